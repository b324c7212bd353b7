//! Managed instances as Systems Manager describes them, and the Run Command requests the product sends.

use std::collections::BTreeMap;

use crate::{InstanceId, Platform};

/// Run Command accepts at most 50 instance ids per `SendCommand` (DOMAIN.md §3).
pub const SEND_COMMAND_MAX_INSTANCES: usize = 50;
/// `SendCommand` comments are at most 100 characters.
pub const COMMENT_MAX_CHARS: usize = 100;

/// The SSM agent's heartbeat as `DescribeInstanceInformation` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingStatus {
    Online,
    ConnectionLost,
    Inactive,
    Other(String),
}

impl PingStatus {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "Online" => Self::Online,
            "ConnectionLost" => Self::ConnectionLost,
            "Inactive" => Self::Inactive,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl std::fmt::Display for PingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Online => "Online",
            Self::ConnectionLost => "ConnectionLost",
            Self::Inactive => "Inactive",
            Self::Other(other) => other,
        })
    }
}

/// One instance registered with Systems Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedInstance {
    pub id: InstanceId,
    pub ping: PingStatus,
    pub platform: Platform,
    /// What SSM says, for reports: `Amazon Linux 2`, `Ubuntu 22.04`.
    pub platform_label: String,
    pub computer_name: Option<String>,
}

/// One `SendCommand` call: a document, its parameters (SSM parameters are lists of strings), and
/// at most [`SEND_COMMAND_MAX_INSTANCES`] instance ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCommand {
    pub document: String,
    pub parameters: BTreeMap<String, Vec<String>>,
    pub instance_ids: Vec<InstanceId>,
    pub comment: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub timeout_seconds: i32,
}

/// Cuts a comment to what `SendCommand` accepts, on a character boundary.
pub fn command_comment(text: &str) -> String {
    text.chars().take(COMMENT_MAX_CHARS).collect()
}
