//! One finished command of the product's, as people read it: counts by status, and for each
//! failure the instance and its cause. Pure: built from what `ListCommandInvocations` returned.

use std::collections::{BTreeMap, BTreeSet};

use livepatch_shared::domain::outcome::{
    status_counts, FailureCause, InstanceFailure, InvocationResult,
};
use livepatch_shared::notify::{count, Level, Notification, Section};

/// Every comment the product puts on its commands starts with this.
pub const PRODUCT_COMMENT_PREFIX: &str = "livepatch-autopilot ";
/// Commands run by the product's maintenance windows (reboots, booked disables): the window's
/// own report covers them.
pub const WINDOW_COMMENT_PREFIXES: [&str; 2] = [
    "livepatch-autopilot reboot",
    livepatch_shared::domain::enable::DISABLE_WINDOW_COMMENT_PREFIX,
];

/// Whether a command was run by one of the product's maintenance windows.
pub fn run_by_a_window(comment: &str) -> bool {
    WINDOW_COMMENT_PREFIXES
        .iter()
        .any(|prefix| comment.starts_with(prefix))
}

/// What a command was for, from its document, parameters and comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Scan,
    Install,
    Reboot,
    Facts,
    Enable,
    Disable,
    Other(String),
}

impl Action {
    pub fn of(
        document: &str,
        parameters: &BTreeMap<String, Vec<String>>,
        comment: &str,
        facts_document: &str,
    ) -> Action {
        let param = |name: &str| {
            parameters
                .get(name)
                .and_then(|v| v.first())
                .map(String::as_str)
        };
        match document {
            "AWS-RunPatchBaseline" => match (param("Operation"), param("RebootOption")) {
                (Some("Scan"), _) => Action::Scan,
                (Some("Install"), Some("NoReboot")) => Action::Install,
                // RebootIfNeeded is the default reboot option.
                (Some("Install"), _) => Action::Reboot,
                _ => Action::Other(document.to_owned()),
            },
            "AWS-ConfigureKernelLivePatching" => match param("EnableOrDisable") {
                Some("Disable") => Action::Disable,
                _ => Action::Enable,
            },
            d if d == facts_document => Action::Facts,
            _ => {
                let word = comment
                    .strip_prefix(PRODUCT_COMMENT_PREFIX)
                    .and_then(|rest| rest.split_whitespace().next())
                    .unwrap_or_default();
                match (word, param("Action")) {
                    (_, Some("Disable")) | ("disable", _) => Action::Disable,
                    ("enable", _) => Action::Enable,
                    _ => Action::Other(document.to_owned()),
                }
            }
        }
    }

    /// Whether success means the fleet changed (then it is news even without failures).
    pub fn changes_something(&self) -> bool {
        matches!(
            self,
            Action::Install | Action::Reboot | Action::Enable | Action::Disable
        )
    }

    pub fn key(&self) -> &str {
        match self {
            Action::Scan => "scan",
            Action::Install => "install",
            Action::Reboot => "reboot",
            Action::Facts => "facts",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Other(_) => "command",
        }
    }

    fn label(&self) -> String {
        match self {
            Action::Scan => "Patch scan".into(),
            Action::Install => "Live patch install".into(),
            Action::Reboot => "Reboot into the latest kernel".into(),
            Action::Facts => "Kernel facts collection".into(),
            Action::Enable => "Enabling live patching".into(),
            Action::Disable => "Disabling live patching".into(),
            Action::Other(document) => format!("Command {document}"),
        }
    }
}

/// A finished command and what became of it on each instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandReport {
    pub command_id: String,
    pub document: String,
    pub action: Action,
    /// The command's own final status (`Success`, `Failed`, `TimedOut`...).
    pub status: String,
    pub results: Vec<InvocationResult>,
    pub failures: Vec<InstanceFailure>,
    /// Set when the commands ran in one of the product's maintenance windows: then the message is
    /// about the window execution (`command_id` holds the window execution id).
    pub window: Option<WindowRun>,
}

/// A maintenance window execution of the product's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRun {
    pub window_id: String,
    pub name: String,
    /// The booking key (the name without the product's prefix and purpose): threads join the
    /// booking's.
    pub key: String,
    pub purpose: WindowPurpose,
}

/// What one of the product's windows is for, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowPurpose {
    /// `livepatch-autopilot-reboot-…`: `plan-reboots`' reboot into a newer kernel.
    Reboot,
    /// `livepatch-autopilot-disable-…`: a requested disable, booked because AL2 reboots.
    Disable,
}

impl WindowPurpose {
    /// The purpose and booking key of a window of the product's; `None` for anyone else's.
    pub fn of_name(name: &str) -> Option<(WindowPurpose, String)> {
        let rest = name.strip_prefix(OWN_WINDOW_PREFIX)?;
        if let Some(key) = rest.strip_prefix("reboot-") {
            Some((WindowPurpose::Reboot, key.to_owned()))
        } else {
            let key = rest.strip_prefix("disable-")?;
            Some((WindowPurpose::Disable, key.to_owned()))
        }
    }

    fn word(self) -> &'static str {
        match self {
            WindowPurpose::Reboot => "reboot",
            WindowPurpose::Disable => "disable",
        }
    }

    fn label(self) -> &'static str {
        match self {
            WindowPurpose::Reboot => "Reboot window",
            WindowPurpose::Disable => "Disable window",
        }
    }

    /// What becomes of the instances of a window that ran no command.
    fn after_nothing_ran(self) -> &'static str {
        match self {
            WindowPurpose::Reboot => "Instances still due are booked again by plan-reboots.",
            WindowPurpose::Disable => {
                "Live patching stays on for the instances it named; send the disable request again to book another window."
            }
        }
    }

    /// What the instances that succeeded are like now.
    fn after(self) -> &'static str {
        match self {
            WindowPurpose::Reboot => {
                "Instances that succeeded run the newest kernel now; the next scan records it."
            }
            WindowPurpose::Disable => {
                "Live patching is off on the instances that succeeded (Amazon Linux 2 rebooted); the next scan records it."
            }
        }
    }

    /// The chat thread of a window: the booking's.
    pub fn thread(self, key: &str) -> String {
        format!("{}-{key}", self.word())
    }
}

/// Maintenance windows the product creates are named with this prefix.
const OWN_WINDOW_PREFIX: &str = "livepatch-autopilot-";

impl CommandReport {
    /// The message, or `None` when there is nothing new to say (quiet by default).
    pub fn notification(&self) -> Option<Notification> {
        let changes = self.action.changes_something();
        if !livepatch_shared::domain::outcome::worth_reporting(
            changes,
            &self.results,
            &self.failures,
        ) {
            return None;
        }
        let counts = status_counts(&self.results);
        let succeeded: Vec<String> = self
            .results
            .iter()
            .filter(|r| r.status == "Success")
            .map(|r| r.instance_id.clone())
            .collect();
        let (new, repeated): (Vec<&InstanceFailure>, Vec<&InstanceFailure>) =
            self.failures.iter().partition(|f| !f.repeated);
        let failed = self.failures.len();
        let label = match &self.window {
            Some(window) => format!("{} {}", window.purpose.label(), window.key),
            None => self.action.label(),
        };
        let title = if failed == 0 {
            format!(
                "{label} succeeded on {}",
                count(succeeded.len(), "instance", "instances")
            )
        } else {
            format!(
                "{label} failed on {failed} of {} instances",
                self.results.len()
            )
        };
        let tally = counts
            .iter()
            .map(|(status, n)| format!("{status} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let summary = match &self.window {
            Some(window) => format!(
                "Maintenance window {} ({}) execution {} finished {}: {tally}. {}",
                window.name,
                window.window_id,
                self.command_id,
                self.status,
                window.purpose.after()
            ),
            None => format!(
                "Command {} ({}) finished {}: {tally}.",
                self.command_id, self.document, self.status
            ),
        };
        let mut sections = Vec::new();
        if !new.is_empty() {
            sections.push(Section {
                heading: "Failed".into(),
                lines: new
                    .iter()
                    .map(|f| format!("{}: {}", f.instance_id, f.cause))
                    .collect(),
            });
        }
        if !repeated.is_empty() {
            sections.push(Section {
                heading: "Failing again with the same cause (see the daily digest)".into(),
                lines: repeated
                    .iter()
                    .map(|f| format!("{}: {}", f.instance_id, f.cause))
                    .collect(),
            });
        }
        if !succeeded.is_empty() {
            sections.push(Section {
                heading: "Succeeded".into(),
                lines: succeeded.clone(),
            });
        }
        let mut next_steps: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        for failure in &new {
            match (&failure.cause, &self.window) {
                // An unrecognised failure: where to read it, with the real ids.
                (FailureCause::Other(_), None) => {
                    seen.insert(failure.cause.key());
                    next_steps.push(format!(
                        "{}: read the output: aws ssm get-command-invocation --command-id {} --instance-id {}",
                        failure.instance_id, self.command_id, failure.instance_id
                    ));
                }
                _ if seen.insert(failure.cause.key()) => {
                    next_steps.push(format!("{}: {}", failure.cause, failure.cause.fix()));
                }
                _ => {}
            }
        }
        if failed > 0 {
            next_steps.push(match &self.window {
                Some(_) => format!(
                    "Full output: aws ssm describe-maintenance-window-execution-tasks --window-execution-id {}",
                    self.command_id
                ),
                None => format!(
                    "Full output: aws ssm list-command-invocations --command-id {} --details",
                    self.command_id
                ),
            });
        }
        let mut keywords = vec![self.action.key().to_owned(), self.status.clone()];
        keywords.extend(seen.iter().map(|k| (*k).to_owned()));
        let (id, event_type, thread_id) = match &self.window {
            Some(window) => (
                format!("window-{}", self.command_id),
                format!("window.{}", window.purpose.word()),
                window.purpose.thread(&window.key),
            ),
            None => (
                format!("command-{}", self.command_id),
                format!("command.{}", self.action.key()),
                format!("command-{}", self.command_id),
            ),
        };
        Some(Notification {
            id,
            event_type,
            level: if failed > 0 {
                Level::Warning
            } else {
                Level::Info
            },
            title,
            summary,
            sections,
            next_steps,
            keywords,
            thread_id,
            related_resources: self.results.iter().map(|r| r.instance_id.clone()).collect(),
        })
    }
}

impl CommandReport {
    /// A window of the product's that ran no command (no target left, skipped, timed out before
    /// starting) is still news: someone expected it to. `None` for a command report.
    pub fn empty_window(&self) -> Option<Notification> {
        let window = self.window.as_ref()?;
        let purpose = window.purpose;
        Some(Notification {
            id: format!("window-{}", self.command_id),
            event_type: format!("window.{}", purpose.word()),
            level: Level::Warning,
            title: format!(
                "{} {} ended ({}) without running on any instance",
                purpose.label(),
                window.key,
                self.status
            ),
            summary: format!(
                "Maintenance window {} ({}) execution {} ended {} and ran no command. {}",
                window.name,
                window.window_id,
                self.command_id,
                self.status,
                purpose.after_nothing_ran()
            ),
            sections: Vec::new(),
            next_steps: vec![format!(
                "See why: aws ssm describe-maintenance-window-execution-tasks --window-execution-id {}",
                self.command_id
            )],
            keywords: vec![purpose.word().into(), self.status.clone()],
            thread_id: purpose.thread(&window.key),
            related_resources: vec![window.window_id.clone()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
            .collect()
    }

    #[test]
    fn actions_from_document_parameters_and_comment() {
        let facts = "LivePatchAutopilot-KernelFacts";
        let cases = [
            (
                "AWS-RunPatchBaseline",
                params(&[("Operation", "Scan")]),
                "",
                Action::Scan,
            ),
            (
                "AWS-RunPatchBaseline",
                params(&[("Operation", "Install"), ("RebootOption", "NoReboot")]),
                "",
                Action::Install,
            ),
            (
                "AWS-RunPatchBaseline",
                params(&[("Operation", "Install"), ("RebootOption", "RebootIfNeeded")]),
                "",
                Action::Reboot,
            ),
            (
                "AWS-RunPatchBaseline",
                params(&[("Operation", "Install")]),
                "",
                Action::Reboot,
            ),
            (
                "AWS-ConfigureKernelLivePatching",
                params(&[("EnableOrDisable", "Enable")]),
                "",
                Action::Enable,
            ),
            (
                "AWS-ConfigureKernelLivePatching",
                params(&[("EnableOrDisable", "Disable")]),
                "",
                Action::Disable,
            ),
            (facts, params(&[]), "", Action::Facts),
            (
                "LivePatchAutopilot-EnableAL2023",
                params(&[("Action", "Enable")]),
                "livepatch-autopilot enable 2026-12-03",
                Action::Enable,
            ),
            (
                "LivePatchAutopilot-EnableAL2023",
                params(&[("Action", "Disable")]),
                "livepatch-autopilot disable x",
                Action::Disable,
            ),
            (
                "Custom-Doc",
                params(&[]),
                "someone else",
                Action::Other("Custom-Doc".into()),
            ),
        ];
        for (document, parameters, comment, expected) in cases {
            assert_eq!(
                Action::of(document, &parameters, comment, facts),
                expected,
                "{document} {parameters:?}"
            );
        }
        assert!(Action::Install.changes_something());
        assert!(!Action::Scan.changes_something());
        assert!(!Action::Facts.changes_something());
    }
}
