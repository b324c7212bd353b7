//! What became of a command the product sent: per-instance results read back from Run Command,
//! the cause of each failure read from its output, and whether the result is worth a message.
//!
//! Operators should learn *why* an instance failed without opening the console, so the causes
//! field reports name (DOMAIN.md §3) are recognised in the output: a held yum/dnf lock, a full
//! disk, a kpatch module that would not load, an agent that could not be reached.

use std::collections::BTreeMap;
use std::fmt;

use crate::install::InvocationStatus;

/// Why one invocation did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureCause {
    /// Another yum/dnf process held the package manager lock for the whole run.
    PackageLockHeld,
    /// No space left for the package cache or download.
    DiskFull,
    /// A live patch module was installed but `kpatch load` failed (transition stalled).
    KpatchLoadFailed,
    /// The command never reached the instance: agent offline, instance stopped or terminated.
    AgentUnreachable(String),
    /// The command ran past its timeout on the instance.
    ExecutionTimedOut,
    /// The document does not run on this platform.
    InvalidPlatform,
    /// The instance profile lacks a permission the command needed.
    AccessDenied,
    /// Something else: the first error line of the output, or the status when there is none.
    Other(String),
}

impl FailureCause {
    /// A short hint on what fixes it, for the message's next steps.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::PackageLockHeld => {
                "Find what holds the yum/dnf lock (`ps -p $(cat /var/run/yum.pid)`), let it finish or stop it; the product retries on its next run."
            }
            Self::DiskFull => {
                "Free space on / and /var (`yum clean all`, old kernels with `package-cleanup --oldkernels`); the product retries on its next run."
            }
            Self::KpatchLoadFailed => {
                "The live patch is installed but not loaded: run `kpatch list` and `sudo kpatch load --all` on the instance, or reboot it into the latest kernel in a maintenance window."
            }
            Self::AgentUnreachable(_) => {
                "Check that the instance runs and its SSM Agent is online (Fleet Manager); nothing ran on it."
            }
            Self::ExecutionTimedOut => {
                "The command ran out of time: check the instance's load and network to the repositories, or raise CommandTimeoutSeconds."
            }
            Self::InvalidPlatform => "This document does not run on the instance's platform; exclude it with the opt-out tag.",
            Self::AccessDenied => {
                "Give the instance profile the AmazonSSMManagedInstanceCore policy (and S3 access for patch baselines)."
            }
            Self::Other(_) => "Read the output: aws ssm get-command-invocation --command-id <id> --instance-id <instance>.",
        }
    }

    /// Whether this failure is the same as `before`, an earlier run's on the same instance: the
    /// same kind, and for an unrecognised failure the same text (two different unknown errors
    /// are two pieces of news).
    pub fn repeats(&self, before: &FailureCause) -> bool {
        match (self, before) {
            (Self::Other(now), Self::Other(then)) => now == then,
            _ => self.key() == before.key(),
        }
    }

    /// A stable short key, for grouping and comparing causes across runs.
    pub fn key(&self) -> &'static str {
        match self {
            Self::PackageLockHeld => "package-lock-held",
            Self::DiskFull => "disk-full",
            Self::KpatchLoadFailed => "kpatch-load-failed",
            Self::AgentUnreachable(_) => "agent-unreachable",
            Self::ExecutionTimedOut => "execution-timed-out",
            Self::InvalidPlatform => "invalid-platform",
            Self::AccessDenied => "access-denied",
            Self::Other(_) => "other",
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PackageLockHeld => f.write_str("yum/dnf lock held by another process"),
            Self::DiskFull => f.write_str("no space left on device"),
            Self::KpatchLoadFailed => f.write_str("kpatch could not load the live patch"),
            Self::AgentUnreachable(how) => write!(f, "agent not reachable ({how})"),
            Self::ExecutionTimedOut => f.write_str("timed out while running"),
            Self::InvalidPlatform => f.write_str("document not supported on this platform"),
            Self::AccessDenied => f.write_str("access denied"),
            Self::Other(line) => f.write_str(line),
        }
    }
}

/// One instance's result as `ListCommandInvocations` (with details) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationResult {
    pub instance_id: String,
    pub status: String,
    pub status_details: String,
    /// The plugins' output, stdout and stderr together as the agent reports it (truncated by SSM).
    pub output: String,
}

impl InvocationResult {
    /// `None` when the invocation succeeded, is still running, or was cancelled (the product
    /// cancels its own duplicate installs, so a cancel is not a failure); otherwise its cause.
    pub fn failure(&self) -> Option<FailureCause> {
        let status = InvocationStatus::with_details(&self.status, &self.status_details);
        match status {
            InvocationStatus::Success
            | InvocationStatus::Cancelled
            | InvocationStatus::Cancelling
            | InvocationStatus::Pending
            | InvocationStatus::InProgress
            | InvocationStatus::Delayed => None,
            InvocationStatus::NotDelivered(details) => {
                Some(FailureCause::AgentUnreachable(details))
            }
            InvocationStatus::TimedOut => {
                Some(cause_from_output(&self.output).unwrap_or(FailureCause::ExecutionTimedOut))
            }
            InvocationStatus::Failed => {
                Some(cause_from_output(&self.output).unwrap_or_else(|| {
                    FailureCause::Other(
                        first_error_line(&self.output)
                            .unwrap_or_else(|| "failed without output".into()),
                    )
                }))
            }
            InvocationStatus::Other(other) => Some(match other.as_str() {
                "Terminated" => FailureCause::AgentUnreachable("instance terminated".into()),
                "InvalidPlatform" => FailureCause::InvalidPlatform,
                "AccessDenied" => FailureCause::AccessDenied,
                _ => cause_from_output(&self.output).unwrap_or(FailureCause::Other(other)),
            }),
        }
    }
}

/// Recognises the field failures of DOMAIN.md §3 in yum, dnf and kpatch output. The last error
/// decides: output is read from its end, because an earlier line (a lock that was waited for and
/// then released) may not be what failed. Lines that only say "waiting" count when nothing else
/// does (a run killed while it waited for the lock).
pub fn cause_from_output(output: &str) -> Option<FailureCause> {
    let lines: Vec<String> = output.lines().map(str::to_ascii_lowercase).collect();
    let has = |line: &str, needles: &[&str]| needles.iter().any(|n| line.contains(n));
    for line in lines.iter().rev() {
        if has(
            line,
            &[
                "yum lock held",
                "failed to obtain the transaction lock",
                "already locked by",
            ],
        ) {
            return Some(FailureCause::PackageLockHeld);
        }
        if has(
            line,
            &["no space left on device", "insufficient space", "errno 28"],
        ) {
            return Some(FailureCause::DiskFull);
        }
        if has(
            line,
            &["accessdeniedexception", "is not authorized to perform"],
        ) {
            return Some(FailureCause::AccessDenied);
        }
        if has(
            line,
            &[
                "transition has stalled",
                "failed to load module",
                "kpatch: error",
            ],
        ) {
            return Some(FailureCause::KpatchLoadFailed);
        }
    }
    lines
        .iter()
        .any(|line| {
            has(
                line,
                &[
                    "existing lock /var/run/yum.pid",
                    "waiting for process with pid",
                    "currently holding the yum lock",
                ],
            )
        })
        .then_some(FailureCause::PackageLockHeld)
}

/// The first line that looks like an error, else the last non-empty line; cut to a readable length.
fn first_error_line(output: &str) -> Option<String> {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // The agent's own closing line says only that the script exited non-zero.
    let lines: Vec<&str> = lines
        .into_iter()
        .filter(|l| {
            !l.to_ascii_lowercase()
                .starts_with("failed to run commands: exit status")
        })
        .collect();
    let line = lines
        .iter()
        .find(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("error") || lower.contains("failed") || lower.starts_with("fatal")
        })
        .or(lines.last())?;
    Some(crate::excerpt(line))
}

/// Counts by status as Run Command reports it (`Success`, `Failed`, `TimedOut`, `Undeliverable`,
/// `Cancelled`...), in a stable order (for "3 Success, 1 Failed"). Whether a `TimedOut` never
/// reached the instance is its cause's to say, not the count's.
pub fn status_counts(results: &[InvocationResult]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for result in results {
        let status = match result.status.trim() {
            "" => "Unknown",
            status => status,
        };
        *counts.entry(status.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// A failure on one instance, and whether the same cause already failed the previous run of the
/// same kind there (then it is summarised, not repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFailure {
    pub instance_id: String,
    pub cause: FailureCause,
    pub repeated: bool,
}

/// Whether a finished command deserves a message. Quiet by default: a scan or facts run where
/// every instance succeeded changes nothing people need to know, and failures already reported
/// for the previous run are left to the daily digest.
pub fn worth_reporting(
    changes_something: bool,
    results: &[InvocationResult],
    failures: &[InstanceFailure],
) -> bool {
    let succeeded = results.iter().any(|r| r.status == "Success");
    failures.iter().any(|f| !f.repeated) || (changes_something && succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: &str, details: &str, output: &str) -> InvocationResult {
        InvocationResult {
            instance_id: "i-0a1b2c3d4e5f60001".into(),
            status: status.into(),
            status_details: details.into(),
            output: output.into(),
        }
    }

    const YUM_LOCK: &str = "Existing lock /var/run/yum.pid: another copy is running as pid 2718.\n\
        Another app is currently holding the yum lock; waiting for it to exit...\n\
        ERROR: yum lock held by another process; giving up after 600 seconds\n";
    const DNF_LOCK: &str = "Waiting for process with pid 2718 to finish.\nError: Failed to obtain the transaction lock (logged in as: root).\n";

    #[test]
    fn field_failures_are_recognised_in_the_output() {
        let cases = [
            (YUM_LOCK, Some(FailureCause::PackageLockHeld)),
            (DNF_LOCK, Some(FailureCause::PackageLockHeld)),
            ("[Errno 28] No space left on device: '/var/cache/yum/x86_64/2/amzn2-core/repomd.xml'", Some(FailureCause::DiskFull)),
            ("Error: Insufficient space in download directory /var/cache/dnf/x/packages\n * free 12 M", Some(FailureCause::DiskFull)),
            (
                "kpatch: error: failed to load module livepatch_CVE_2026_1: patch transition has stalled!",
                Some(FailureCause::KpatchLoadFailed),
            ),
            ("Installing: kernel-livepatch\nComplete!", None),
            ("", None),
            // A lock waited for and released, then a full disk: the disk is the cause.
            (
                "Waiting for process with pid 2718 to finish.\nError: Insufficient space in download directory /var/cache/dnf",
                Some(FailureCause::DiskFull),
            ),
            // Killed while still waiting for the lock.
            ("Existing lock /var/run/yum.pid: another copy is running as pid 2718.\n", Some(FailureCause::PackageLockHeld)),
            ("Error: [Errno 11] dnf is already locked by 2718", Some(FailureCause::PackageLockHeld)),
            (
                "An error occurred (AccessDeniedException) when calling the PutInventory operation: User: arn:aws:sts::123456789012:assumed-role/ssm-role/i-0a1b2c3d4e5f60001 is not authorized to perform: ssm:PutInventory",
                Some(FailureCause::AccessDenied),
            ),
        ];
        for (output, expected) in cases {
            assert_eq!(cause_from_output(output), expected, "{output}");
        }
    }

    #[test]
    fn an_unrecognised_failure_names_the_script_error_not_the_agent_exit_line() {
        let failed = result(
            "Failed",
            "Failed",
            "could not render the kernel facts\nfailed to run commands: exit status 1",
        );
        assert_eq!(
            failed.failure(),
            Some(FailureCause::Other(
                "could not render the kernel facts".into()
            ))
        );
    }

    #[test]
    fn each_status_maps_to_a_cause_or_to_no_failure() {
        let cases: Vec<(&str, &str, &str, Option<FailureCause>)> = vec![
            ("Success", "Success", "", None),
            ("Cancelled", "Cancelled", "", None),
            ("InProgress", "InProgress", "", None),
            ("Pending", "Pending", "", None),
            ("Delayed", "Delayed", "", None),
            (
                "Failed",
                "Failed",
                YUM_LOCK,
                Some(FailureCause::PackageLockHeld),
            ),
            (
                "TimedOut",
                "DeliveryTimedOut",
                "",
                Some(FailureCause::AgentUnreachable("DeliveryTimedOut".into())),
            ),
            (
                "Undeliverable",
                "Undeliverable",
                "",
                Some(FailureCause::AgentUnreachable("Undeliverable".into())),
            ),
            (
                "TimedOut",
                "ExecutionTimedOut",
                "",
                Some(FailureCause::ExecutionTimedOut),
            ),
            (
                "TimedOut",
                "ExecutionTimedOut",
                DNF_LOCK,
                Some(FailureCause::PackageLockHeld),
            ),
            (
                "Terminated",
                "Terminated",
                "",
                Some(FailureCause::AgentUnreachable("instance terminated".into())),
            ),
            (
                "InvalidPlatform",
                "InvalidPlatform",
                "",
                Some(FailureCause::InvalidPlatform),
            ),
            (
                "AccessDenied",
                "AccessDenied",
                "",
                Some(FailureCause::AccessDenied),
            ),
            (
                "Failed",
                "Failed",
                "Running yum\nfatal: repository metadata unreachable\nexit 1",
                Some(FailureCause::Other(
                    "fatal: repository metadata unreachable".into(),
                )),
            ),
            (
                "Failed",
                "Failed",
                "step 1\nstep 2\n",
                Some(FailureCause::Other("step 2".into())),
            ),
            (
                "Failed",
                "Failed",
                "",
                Some(FailureCause::Other("failed without output".into())),
            ),
        ];
        for (status, details, output, expected) in cases {
            assert_eq!(
                result(status, details, output).failure(),
                expected,
                "{status}/{details}"
            );
        }
    }

    #[test]
    fn every_cause_has_a_key_a_text_and_a_fix() {
        let causes = [
            FailureCause::PackageLockHeld,
            FailureCause::DiskFull,
            FailureCause::KpatchLoadFailed,
            FailureCause::AgentUnreachable("Undeliverable".into()),
            FailureCause::ExecutionTimedOut,
            FailureCause::InvalidPlatform,
            FailureCause::AccessDenied,
            FailureCause::Other("boom".into()),
        ];
        let keys: std::collections::BTreeSet<_> = causes.iter().map(FailureCause::key).collect();
        assert_eq!(keys.len(), causes.len());
        for cause in &causes {
            assert!(!cause.to_string().is_empty());
            assert!(cause.fix().len() > 20);
        }
        assert_eq!(
            FailureCause::AgentUnreachable("Undeliverable".into()).to_string(),
            "agent not reachable (Undeliverable)"
        );
    }

    #[test]
    fn a_repeat_is_the_same_kind_and_for_unknown_errors_the_same_text() {
        let other = |s: &str| FailureCause::Other(s.into());
        assert!(FailureCause::DiskFull.repeats(&FailureCause::DiskFull));
        assert!(!FailureCause::DiskFull.repeats(&FailureCause::PackageLockHeld));
        assert!(FailureCause::AgentUnreachable("Undeliverable".into())
            .repeats(&FailureCause::AgentUnreachable("DeliveryTimedOut".into())));
        assert!(other("Error: rpmdb open failed").repeats(&other("Error: rpmdb open failed")));
        assert!(!other("Error: rpmdb open failed").repeats(&other("Error: repo not found")));
    }

    #[test]
    fn counts_are_by_run_command_status() {
        let results = [
            result("Success", "Success", ""),
            result("Success", "Success", ""),
            result("Failed", "Failed", ""),
            result("TimedOut", "DeliveryTimedOut", ""),
            result("Undeliverable", "Undeliverable", ""),
            result("TimedOut", "ExecutionTimedOut", ""),
        ];
        let counts = status_counts(&results);
        assert_eq!(counts["Success"], 2);
        assert_eq!(counts["Failed"], 1);
        assert_eq!(counts["Undeliverable"], 1);
        assert_eq!(counts["TimedOut"], 2);
        assert_eq!(counts.len(), 4);
        // The delivery timeout is still told apart, by its cause.
        assert_eq!(
            results[3].failure(),
            Some(FailureCause::AgentUnreachable("DeliveryTimedOut".into()))
        );
    }

    #[test]
    fn quiet_unless_something_changed_or_failed_anew() {
        let ok = [result("Success", "Success", "")];
        let failed = [result("Failed", "Failed", YUM_LOCK)];
        let new = |repeated| {
            vec![InstanceFailure {
                instance_id: "i-0a1b2c3d4e5f60001".into(),
                cause: FailureCause::PackageLockHeld,
                repeated,
            }]
        };
        // A scan that worked: nothing to say.
        assert!(!worth_reporting(false, &ok, &[]));
        // An install that worked changed the fleet.
        assert!(worth_reporting(true, &ok, &[]));
        // A new failure is always news.
        assert!(worth_reporting(false, &failed, &new(false)));
        // The same failure as last time: left to the digest.
        assert!(!worth_reporting(false, &failed, &new(true)));
        assert!(!worth_reporting(true, &failed, &new(true)));
        // Everything cancelled (a duplicate the product withdrew): nothing to say.
        assert!(!worth_reporting(
            true,
            &[result("Cancelled", "Cancelled", "")],
            &[]
        ));
    }
}
