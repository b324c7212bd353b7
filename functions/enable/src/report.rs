//! What the enable function tells people. The daily run speaks when it switched something on, or
//! found something to act on (a reboot window needed, live patches not in effect, an enable that
//! did not take, failures); platforms it will never touch are listed then, not announced alone.
//! A manual request is always answered, a refused one with the reason.

use jiff::Timestamp;
use livepatch_shared::domain::enable::NotInEffect;
use livepatch_shared::domain::reboot::local_time;
use livepatch_shared::notify::{count, Level, Notification, Section};

use crate::{EnableOutcome, Finding};

pub fn summary(outcome: &EnableOutcome, opt_out_tag: &str, now: Timestamp) -> Option<Notification> {
    let manual = outcome.trigger != "schedule";
    let enabling: Vec<_> = outcome
        .switching
        .iter()
        .filter(|s| s.action == "enable")
        .collect();
    let disabling: Vec<_> = outcome
        .switching
        .iter()
        .filter(|s| s.action == "disable")
        .collect();
    let booked: usize = outcome.booked.iter().map(|b| b.instance_ids.len()).sum();
    let troubles = outcome.not_in_effect.len()
        + outcome.not_verified.len()
        + outcome.stuck.len()
        + outcome.failed.len()
        + outcome.unrecorded.len();
    let acted = !outcome.switching.is_empty() || booked > 0;
    if !manual && !acted && troubles == 0 && outcome.deferred.is_empty() {
        return None;
    }
    let dry = outcome.dry_run;
    let would = |doing: &str, would_do: &str| if dry { would_do } else { doing }.to_owned();
    let instances = |n: usize| count(n, "instance", "instances");
    let title = if let Some(refusal) = &outcome.refused {
        format!("Live patching request refused: {}", shorten(refusal, 60))
    } else if !disabling.is_empty() || booked > 0 {
        let mut parts = Vec::new();
        if !disabling.is_empty() {
            parts.push(format!(
                "{} live patching on {}",
                would("Disabling", "Would disable"),
                instances(disabling.len())
            ));
        }
        if booked > 0 {
            parts.push(format!(
                "{} disable for {} in a maintenance window",
                would("booked the", "would book the"),
                instances(booked)
            ));
        }
        let mut title = parts.join("; ");
        title[..1].make_ascii_uppercase();
        title
    } else if !enabling.is_empty() {
        let mut title = format!(
            "{} live patching on {}",
            would("Turning on", "Would turn on"),
            instances(enabling.len())
        );
        if !outcome.deferred.is_empty() {
            title.push_str(&match outcome.deferred.len() {
                1 => "; 1 needs a reboot window".to_owned(),
                n => format!("; {n} need a reboot window"),
            });
        }
        title
    } else if !outcome.not_in_effect.is_empty() {
        format!(
            "Live patches not in effect on {}",
            instances(outcome.not_in_effect.len())
        )
    } else if outcome.stuck.len() + outcome.not_verified.len() > 0 {
        format!(
            "Live patching did not turn on for {}",
            instances(outcome.stuck.len() + outcome.not_verified.len())
        )
    } else if !outcome.deferred.is_empty() {
        format!(
            "{} a reboot window to enable live patching",
            match outcome.deferred.len() {
                1 => "1 instance needs".to_owned(),
                n => format!("{n} instances need"),
            }
        )
    } else if !outcome.failed.is_empty() {
        format!(
            "Live patching commands not sent to {}",
            instances(
                outcome
                    .failed
                    .iter()
                    .map(|f| f.instance_ids.len())
                    .sum::<usize>()
            )
        )
    } else {
        "Live patching request: nothing to change".to_owned()
    };

    let summary = if let Some(refusal) = &outcome.refused {
        format!(
            "Manual request {} was refused: {refusal}. Nothing was sent.",
            outcome.run
        )
    } else {
        let what = if manual {
            format!("Manual request {}", outcome.run)
        } else {
            "The daily live patching check".to_owned()
        };
        let mut counts = vec![
            format!("{} turning on", enabling.len()),
            format!("{} need a reboot window", outcome.deferred.len()),
            format!("{} not in effect", outcome.not_in_effect.len()),
            format!("{} not supported", outcome.unsupported.len()),
        ];
        if outcome.trigger == "manual-disable" || !disabling.is_empty() || booked > 0 {
            counts = vec![
                format!("{} turning off now", disabling.len()),
                format!(
                    "{booked} {} into a window",
                    would("booked", "would be booked")
                ),
                format!("{} left as they are", outcome.skipped.len()),
                format!("{} not supported", outcome.unsupported.len()),
            ];
        }
        if troubles > outcome.not_in_effect.len() {
            counts.push(format!(
                "{} failed or unconfirmed",
                troubles - outcome.not_in_effect.len()
            ));
        }
        let mut text = format!("{what}: {}.", counts.join(", "));
        if dry {
            text.push_str(" Dry run: nothing was sent or booked.");
        } else if outcome.switching.iter().any(|s| s.reboots) {
            text.push_str(" Some of these commands REBOOT the instance; see below.");
        } else if !enabling.is_empty() {
            text.push_str(" Nothing reboots.");
        }
        text
    };

    let mut sections = Vec::new();
    let mut push = |heading: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            sections.push(Section {
                heading: heading.to_owned(),
                lines,
            });
        }
    };
    let switch_line = |s: &&crate::Switching| {
        let command = s.command_id.as_deref().unwrap_or("not sent");
        let reboot = if s.reboots { "REBOOTS: " } else { "" };
        format!(
            "{}: {} {} ({command}): {reboot}{}",
            s.instance_id,
            s.document,
            if s.action == "enable" {
                "Enable"
            } else {
                "Disable"
            },
            s.note
        )
    };
    push(
        if dry {
            "Would turn on"
        } else {
            "Turning on now"
        },
        enabling.iter().map(switch_line).collect(),
    );
    push(
        if dry {
            "Would turn off"
        } else {
            "Turning off now"
        },
        disabling.iter().map(switch_line).collect(),
    );
    push(
        if dry {
            "Disable that would be booked in a maintenance window (Amazon Linux 2 reboots)"
        } else {
            "Disable booked in a maintenance window (Amazon Linux 2 reboots)"
        },
        outcome
            .booked
            .iter()
            .map(|b| {
                let starts = b
                    .starts
                    .parse::<Timestamp>()
                    .map(|t| local_time(t, "UTC"))
                    .unwrap_or_else(|_| b.starts.clone());
                format!(
                    "{}: window {} ({}) starting {starts}",
                    b.instance_ids.join(", "),
                    b.window_id.as_deref().unwrap_or(if dry {
                        "not created: dry run"
                    } else {
                        "not created"
                    }),
                    b.window_name,
                )
            })
            .collect(),
    );
    push(
        "Needs a reboot window to enable (handed to the reboot planner)",
        lines(&outcome.deferred),
    );
    push("Live patches not in effect", lines(&outcome.not_in_effect));
    push(
        "Enabled earlier, not confirmed",
        lines(&outcome.not_verified),
    );
    push("Stuck: enabling keeps failing", lines(&outcome.stuck));
    push(
        "Not sent",
        outcome
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.instance_ids.join(", "), f.error))
            .collect(),
    );
    push(
        "Not remembered (disable record not updated)",
        lines(&outcome.unrecorded),
    );
    push("Not supported (left alone)", lines(&outcome.unsupported));
    push(
        "Finished disable windows removed",
        outcome.removed_windows.clone(),
    );
    if manual {
        push("Skipped", lines(&outcome.skipped));
    }

    let mut next_steps = Vec::new();
    if let Some(refusal) = &outcome.refused {
        if refusal.contains("confirm") {
            next_steps.push("Send the request again with the confirm text quoted above, once you are sure: disabling reboots Amazon Linux 2 instances.".to_owned());
        } else {
            next_steps.push("Fix the request and send it again; nothing was changed.".to_owned());
        }
    }
    if !outcome.deferred.is_empty() {
        next_steps.push("The reboot planner books these into a maintenance window; after the reboot into a newer kernel, the next daily run enables live patching without one. To enable now with a reboot, set EnableAllowReboot (ENABLE_ALLOW_REBOOT=true).".to_owned());
    }
    if !outcome.not_in_effect.is_empty() {
        next_steps.push(format!("Not in effect: {}.", NotInEffect::FIX));
    }
    for f in outcome.not_verified.iter().chain(&outcome.stuck) {
        if let Some(command) = &f.command_id {
            next_steps.push(format!(
                "Read why: aws ssm get-command-invocation --command-id {command} --instance-id {}",
                f.instance_id
            ));
        }
    }
    if !outcome.stuck.is_empty() {
        next_steps.push(
            "Once fixed, a manual enable request naming the instance tries again at once."
                .to_owned(),
        );
    }
    for b in &outcome.booked {
        if let Some(window) = &b.window_id {
            next_steps.push(format!(
                "To cancel the booked disable: aws ssm delete-maintenance-window --window-id {window}"
            ));
        }
    }
    if !disabling.is_empty() || booked > 0 {
        next_steps.push(format!(
            "The daily run leaves instances disabled on request alone while Run Command keeps the history (30 days); tag them with {opt_out_tag} to keep live patching off for good."
        ));
    }

    let mut related: Vec<String> = outcome
        .switching
        .iter()
        .map(|s| s.instance_id.clone())
        .collect();
    related.extend(outcome.booked.iter().flat_map(|b| b.instance_ids.clone()));
    related.extend(
        outcome
            .deferred
            .iter()
            .chain(&outcome.not_in_effect)
            .map(|f| f.instance_id.clone()),
    );
    let warning = outcome.refused.is_some()
        || troubles > 0
        || outcome.switching.iter().any(|s| s.reboots)
        || booked > 0;
    let event_type = if outcome.refused.is_some() {
        "enable.refused"
    } else if !disabling.is_empty() || booked > 0 {
        "disable.started"
    } else if !enabling.is_empty() {
        "enable.started"
    } else {
        "enable.findings"
    };
    Some(Notification {
        id: format!("enable-{}", outcome.run),
        event_type: event_type.into(),
        level: if warning { Level::Warning } else { Level::Info },
        title,
        summary,
        sections,
        next_steps,
        keywords: vec!["livepatch".into(), "enable".into()],
        thread_id: format!("enable-{}", now.strftime("%Y-%m-%d")),
        related_resources: related,
    })
}

fn lines(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| format!("{}: {}", f.instance_id, f.reason))
        .collect()
}

/// `text` cut to at most `max` characters at a word boundary, with `...` when cut: a title never
/// ends in half an instance id.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let at_word = cut
        .rfind(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}...", at_word.trim_end_matches([',', ';', ':', ' ']))
}

#[cfg(test)]
mod tests {
    #[test]
    fn titles_are_cut_at_a_word_never_inside_an_id() {
        assert_eq!(super::shorten("short", 60), "short");
        let long =
            "instances out of scope: i-0f3a9c2e41b7d5a01, i-0f3a9c2e41b7d5a02, i-0f3a9c2e41b7d5a03";
        let cut = super::shorten(long, 60);
        assert_eq!(cut, "instances out of scope: i-0f3a9c2e41b7d5a01...");
        assert!(cut.chars().count() <= 63);
    }

    use super::*;
    use crate::{Booked, Switching};

    fn now() -> Timestamp {
        "2026-12-03T02:00:00Z".parse().unwrap()
    }

    fn finding(id: &str, reason: &str) -> Finding {
        Finding {
            instance_id: id.into(),
            reason: reason.into(),
            command_id: None,
        }
    }

    fn scheduled() -> EnableOutcome {
        EnableOutcome {
            trigger: "schedule".into(),
            run: "evt-1".into(),
            ..EnableOutcome::default()
        }
    }

    #[test]
    fn a_day_with_nothing_to_do_or_only_unsupported_instances_is_quiet() {
        let mut outcome = scheduled();
        assert!(summary(&outcome, "t", now()).is_none());
        outcome
            .unsupported
            .push(finding("i-1", "not Amazon Linux (Ubuntu 22.04)"));
        outcome
            .skipped
            .push(finding("i-2", "live patching is already on"));
        assert!(summary(&outcome, "t", now()).is_none());
    }

    #[test]
    fn enabling_says_what_runs_what_waits_for_a_window_and_what_is_left_alone() {
        let mut outcome = scheduled();
        outcome.switching.push(Switching {
            instance_id: "i-0f3a9c2e41b7d5a08".into(),
            action: "enable".into(),
            document: "LivePatchAutopilot-ConfigureKernelLivePatching".into(),
            command_id: Some("c-1".into()),
            reboots: false,
            note: "no reboot".into(),
        });
        outcome.deferred.push(finding(
            "i-0f3a9c2e41b7d5a02",
            "needs a reboot window to enable: kernel 4.14.152-124.171.amzn2.x86_64 is below 4.14.165-131.185: enabling installs a newer kernel and reboots",
        ));
        outcome.unsupported.push(finding(
            "i-0f3a9c2e41b7d5a09",
            "not Amazon Linux (Ubuntu 22.04)",
        ));
        let n = summary(&outcome, "t", now()).unwrap();
        assert_eq!(
            n.title,
            "Turning on live patching on 1 instance; 1 needs a reboot window"
        );
        assert_eq!(n.level, Level::Info);
        let text = n.email_text();
        assert!(text.contains("i-0f3a9c2e41b7d5a08: LivePatchAutopilot-ConfigureKernelLivePatching Enable (c-1): no reboot"), "{text}");
        assert!(
            text.contains("Needs a reboot window to enable (handed to the reboot planner):"),
            "{text}"
        );
        assert!(text.contains("below 4.14.165-131.185"), "{text}");
        assert!(text.contains("Not supported (left alone):\n  - i-0f3a9c2e41b7d5a09: not Amazon Linux (Ubuntu 22.04)"), "{text}");
        assert!(text.contains("ENABLE_ALLOW_REBOOT=true"), "{text}");
    }

    #[test]
    fn not_in_effect_alone_is_worth_a_warning_with_the_fix() {
        let mut outcome = scheduled();
        outcome.not_in_effect.push(finding(
            "i-1",
            "live patches not in effect: kpatch.service is disabled (inactive)",
        ));
        let n = summary(&outcome, "t", now()).unwrap();
        assert_eq!(n.title, "Live patches not in effect on 1 instance");
        assert_eq!(n.level, Level::Warning);
        assert!(n.next_steps[0].contains("systemctl enable --now kpatch.service"));
    }

    #[test]
    fn a_refused_request_says_why_and_that_nothing_was_sent() {
        let outcome = EnableOutcome {
            trigger: "manual".into(),
            run: "evt-2".into(),
            refused: Some(
                "a disable request must carry \"confirm\": \"DISABLE LIVE PATCHING ON 1 INSTANCE\""
                    .into(),
            ),
            ..EnableOutcome::default()
        };
        let n = summary(&outcome, "t", now()).unwrap();
        assert!(n
            .title
            .starts_with("Live patching request refused: a disable request must carry"));
        assert!(n.subject().chars().count() < 100);
        assert!(n.summary.ends_with("Nothing was sent."), "{}", n.summary);
        assert_eq!(n.event_type, "enable.refused");
    }

    #[test]
    fn a_disable_that_changed_nothing_is_summarised_as_a_disable() {
        let mut outcome = EnableOutcome {
            trigger: "manual-disable".into(),
            run: "evt-4".into(),
            ..EnableOutcome::default()
        };
        outcome
            .skipped
            .push(finding("i-1", "live patching is already off"));
        let n = summary(&outcome, "t", now()).unwrap();
        assert_eq!(
            n.summary,
            "Manual request evt-4: 0 turning off now, 0 booked into a window, 1 left as they are, 0 not supported."
        );
        assert!(!n.summary.contains("turning on"), "{}", n.summary);
        assert!(n.email_text().contains("i-1: live patching is already off"));
    }

    #[test]
    fn removed_disable_windows_are_listed() {
        let mut outcome = scheduled();
        outcome.not_in_effect.push(finding("i-1", "not in effect"));
        outcome
            .removed_windows
            .push("mw-1 (livepatch-autopilot-disable-r-1)".into());
        let text = summary(&outcome, "t", now()).unwrap().email_text();
        assert!(
            text.contains(
                "Finished disable windows removed:\n  - mw-1 (livepatch-autopilot-disable-r-1)"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_disable_names_the_reboot_the_window_and_how_to_cancel_it() {
        let mut outcome = EnableOutcome {
            trigger: "manual-disable".into(),
            run: "evt-3".into(),
            ..EnableOutcome::default()
        };
        outcome.switching.push(Switching {
            instance_id: "i-2".into(),
            action: "disable".into(),
            document: "LivePatchAutopilot-ConfigureKernelLivePatching".into(),
            command_id: Some("c-2".into()),
            reboots: false,
            note: "no reboot".into(),
        });
        outcome.booked.push(Booked {
            instance_ids: vec!["i-1".into()],
            window_id: Some("mw-0123456789abcdef0".into()),
            window_name: "livepatch-autopilot-disable-evt-3".into(),
            starts: "2026-12-04T03:00:00Z".into(),
        });
        let n = summary(&outcome, "livepatch-autopilot:opt-out", now()).unwrap();
        assert_eq!(
            n.title,
            "Disabling live patching on 1 instance; booked the disable for 1 instance in a maintenance window"
        );
        assert_eq!(n.level, Level::Warning);
        let steps = n.next_steps.join("\n");
        assert!(
            steps.contains("delete-maintenance-window --window-id mw-0123456789abcdef0"),
            "{steps}"
        );
        assert!(steps.contains("livepatch-autopilot:opt-out"), "{steps}");
    }
}
