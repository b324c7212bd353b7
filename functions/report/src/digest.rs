//! The daily digest as a message: counts first, then the worst cases, each list capped by the
//! notification's own limits so the message stays under the SNS size limit.

use std::collections::BTreeMap;

use jiff::Timestamp;
use livepatch_shared::domain::digest::Digest;
use livepatch_shared::domain::support::SupportStatus;
use livepatch_shared::domain::InstanceId;
use livepatch_shared::notify::{count, Level, Notification, Section};

/// Renders `digest`; `names` gives instances' display names.
pub fn notification(
    digest: &Digest,
    names: &BTreeMap<InstanceId, String>,
    now: Timestamp,
) -> Notification {
    let who = |id: &InstanceId| match names.get(id).filter(|n| n.as_str() != id.as_str()) {
        Some(name) => format!("{id} ({name})"),
        None => id.to_string(),
    };
    let day = now.strftime("%Y-%m-%d").to_string();
    let missing_instances: std::collections::BTreeSet<_> = digest
        .missing_live_patches
        .iter()
        .map(|(id, _)| id)
        .collect();
    let title = format!(
        "Digest {day}: {}, {} missing live patches, {} out of support",
        count(digest.in_scope, "instance", "instances"),
        missing_instances.len(),
        digest.out_of_support.len()
    );
    let summary = format!(
        "{} instances in scope ({} opted out, {} offline). Live patching on {}, off {}, no facts yet {}. \
         Patch compliance: {} compliant, {} non-compliant, {} never scanned. {} booked; {} in the last 24 hours.",
        digest.in_scope,
        digest.opted_out,
        digest.offline,
        digest.live_patching_on,
        digest.live_patching_off.len(),
        digest.no_facts.len(),
        digest.compliant,
        digest.non_compliant,
        digest.not_scanned,
        count(digest.booked.len(), "reboot", "reboots"),
        count(
            digest.failures.iter().map(|f| f.times).sum::<usize>(),
            "failure",
            "failures"
        ),
    );
    let booked: BTreeMap<&InstanceId, &str> = digest
        .booked
        .iter()
        .map(|b| (&b.instance, b.label.as_str()))
        .collect();
    let mut sections = Vec::new();
    let mut push = |heading: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            sections.push(Section {
                heading: heading.to_owned(),
                lines,
            });
        }
    };
    push(
        "Out of live patch support: running kernel gets no more fixes",
        digest
            .out_of_support
            .iter()
            .map(|(id, kernel, ended)| {
                let plan = booked
                    .get(id)
                    .map(|slot| format!("reboot booked {slot}"))
                    .unwrap_or_else(|| "no reboot booked".into());
                format!("{}: {kernel}, support ended {ended}; {plan}", who(id))
            })
            .collect(),
    );
    push(
        "Missing live patches (most severe first)",
        digest
            .missing_live_patches
            .iter()
            .map(|(id, gap)| {
                let severity = gap.severity.map(|s| s.as_str()).unwrap_or("Unspecified");
                let mut line = format!("{}: {} ({severity})", who(id), gap.kb_id);
                if !gap.advisory_ids.is_empty() {
                    line.push_str(&format!(" {}", gap.advisory_ids.join(", ")));
                }
                if !gap.cve_ids.is_empty() {
                    line.push_str(&format!(" fixes {}", gap.cve_ids.join(", ")));
                }
                line
            })
            .collect(),
    );
    push(
        "Live patches not in effect: installed but not loaded",
        digest
            .not_in_effect
            .iter()
            .map(|(id, modules)| format!("{}: {}", who(id), modules.join(", ")))
            .collect(),
    );
    push(
        "Failed in the last 24 hours",
        digest
            .failures
            .iter()
            .map(|f| {
                let times = if f.times > 1 {
                    format!(
                        " ({} times, last {})",
                        f.times,
                        f.last.strftime("%H:%M UTC")
                    )
                } else {
                    format!(" (at {})", f.last.strftime("%H:%M UTC"))
                };
                format!("{} {}: {}{times}", f.instance, f.action, f.cause)
            })
            .collect(),
    );
    push(
        "Kernel live patch support (soonest end first)",
        digest
            .kernels
            .iter()
            .map(|k| {
                let when = match k.status {
                    SupportStatus::Ended { days_ago } => format!("ended {days_ago} days ago"),
                    SupportStatus::EndingSoon { days_left } => {
                        format!("ends in {days_left} days")
                    }
                    SupportStatus::Ok => "ok".into(),
                };
                format!(
                    "{}: support to {} ({when}), {}",
                    k.kernel,
                    k.support_end,
                    count(k.instances.len(), "instance", "instances")
                )
            })
            .collect(),
    );
    push(
        "Reboots booked",
        digest
            .booked
            .iter()
            .map(|b| format!("{}: {}", who(&b.instance), b.label))
            .collect(),
    );
    push(
        "Live patching off",
        digest
            .live_patching_off
            .iter()
            .map(|id| match booked.get(id) {
                Some(slot) => format!(
                    "{}: reboot booked {slot}; live patching is turned on after it",
                    who(id)
                ),
                None => who(id),
            })
            .collect(),
    );
    push(
        "No reboot can be booked: support end unknown (never guessed)",
        digest
            .support_unknown
            .iter()
            .map(|(id, why)| format!("{}: {why}", who(id)))
            .collect(),
    );
    push(
        "Operating system past end of standard support",
        digest
            .os_past_end
            .iter()
            .map(|(platform, ended, n)| {
                format!(
                    "{platform}: ended {ended}, {}",
                    count(*n, "instance", "instances")
                )
            })
            .collect(),
    );
    push(
        "No kernel facts yet (not scanned since they joined, or agent offline)",
        digest.no_facts.iter().map(&who).collect(),
    );
    push(
        "Not Amazon Linux: left alone",
        digest
            .not_amazon_linux
            .iter()
            .map(|(id, platform)| format!("{}: {platform}", who(id)))
            .collect(),
    );
    let mut next_steps = Vec::new();
    if !digest.out_of_support.is_empty() {
        next_steps.push("Instances out of support need a reboot into the latest kernel: plan-reboots books them into the next allowed window.".to_owned());
    }
    if !digest.not_in_effect.is_empty() {
        next_steps.push("Live patches not in effect: run `sudo systemctl enable --now kpatch.service && sudo kpatch load --all` on each instance listed.".to_owned());
    }
    if !digest.live_patching_off.is_empty() {
        next_steps.push("Live patching off: the enable function turns it on where that needs no reboot; the others wait for a reboot window.".to_owned());
    }
    if !digest.support_unknown.is_empty() {
        next_steps.push("Support end unknown: check the kernel facts (`aws ssm list-inventory-entries --type-name Custom:KernelLivePatch --instance-id <id>`).".to_owned());
    }
    if !digest.os_past_end.is_empty() {
        next_steps.push("Amazon Linux 2 is past its end of standard support: plan the move to Amazon Linux 2023.".to_owned());
    }
    let level = if !digest.out_of_support.is_empty()
        || digest
            .missing_live_patches
            .iter()
            .any(|(_, g)| g.severity == Some(livepatch_shared::domain::Severity::Critical))
    {
        Level::Critical
    } else if !digest.missing_live_patches.is_empty()
        || !digest.not_in_effect.is_empty()
        || !digest.failures.is_empty()
    {
        Level::Warning
    } else {
        Level::Info
    };
    let mut related: Vec<String> = digest
        .out_of_support
        .iter()
        .map(|(id, _, _)| id.to_string())
        .chain(missing_instances.iter().map(|id| id.to_string()))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    related.retain(|id| seen.insert(id.clone()));
    Notification {
        id: format!("digest-{day}"),
        event_type: "digest".into(),
        level,
        title,
        summary,
        sections,
        next_steps,
        keywords: vec!["digest".into(), "live-patching".into()],
        thread_id: "digest".into(),
        related_resources: related,
    }
}
