//! The daily digest: the state of the fleet in counts, with the worst cases listed first.
//!
//! Pure: the report function gathers instances, facts, patch counts, booked reboots and the last
//! day's failures, and this module decides what they add up to and in which order people read it.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::Timestamp;

use crate::facts::KernelFacts;
use crate::kernel::os_end_of_support;
use crate::outcome::FailureCause;
use crate::patch::Severity;
use crate::reboot::SupportFact;
use crate::support::{SupportStatus, SupportWindow};
use crate::{InstanceId, Platform};

/// A live patch an instance lacks, as Patch Manager reports it (the highest severity among its CVEs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePatchGap {
    pub kb_id: String,
    pub severity: Option<Severity>,
    pub cve_ids: Vec<String>,
    pub advisory_ids: Vec<String>,
}

/// What Patch Manager says about one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchView {
    pub compliant: bool,
    pub missing_live_patches: Vec<LivePatchGap>,
}

/// One managed instance as the digest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestInstance {
    pub id: InstanceId,
    pub name: String,
    pub platform: Platform,
    pub online: bool,
    pub opted_out: bool,
    pub facts: Option<KernelFacts>,
    /// `None` when Patch Manager never scanned it.
    pub patches: Option<PatchView>,
}

/// A reboot the product booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedReboot {
    pub instance: InstanceId,
    pub starts: Timestamp,
    /// How people read the slot: "Sun 2027-01-10 03:00 Europe/Berlin".
    pub label: String,
}

/// A failed invocation of the product's in the last day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentFailure {
    pub instance: String,
    /// What was attempted: "install", "scan", "reboot"...
    pub action: String,
    pub cause: FailureCause,
    pub at: Timestamp,
}

/// Kernel support as a line of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLine {
    pub kernel: String,
    pub support_end: Date,
    pub status: SupportStatus,
    pub instances: Vec<InstanceId>,
}

/// The same failure on the same instance, however often it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureLine {
    pub instance: String,
    pub action: String,
    pub cause: FailureCause,
    pub times: usize,
    pub last: Timestamp,
}

/// What the digest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    pub in_scope: usize,
    pub opted_out: usize,
    pub offline: usize,
    pub not_amazon_linux: Vec<(InstanceId, String)>,
    pub live_patching_on: usize,
    pub live_patching_off: Vec<InstanceId>,
    pub no_facts: Vec<InstanceId>,
    pub compliant: usize,
    pub non_compliant: usize,
    pub not_scanned: usize,
    /// Instances lacking live patches, the most severe gap first.
    pub missing_live_patches: Vec<(InstanceId, LivePatchGap)>,
    /// Running kernels by support end, soonest first.
    pub kernels: Vec<KernelLine>,
    /// Instances whose running kernel no longer receives live patches.
    pub out_of_support: Vec<(InstanceId, String, Date)>,
    /// Instances on an OS past its end of standard support, by platform.
    pub os_past_end: Vec<(Platform, Date, usize)>,
    /// Installed live patches that are not loaded: the fixes are not in effect.
    pub not_in_effect: Vec<(InstanceId, Vec<String>)>,
    /// Instances whose support end could not be read: no reboot is booked for them.
    pub support_unknown: Vec<(InstanceId, String)>,
    pub booked: Vec<BookedReboot>,
    /// The last day's failures, the most frequent first.
    pub failures: Vec<FailureLine>,
}

/// Days before a support end from which a kernel is flagged as ending soon.
pub const ENDING_SOON_DAYS: u32 = 21;

/// Adds the fleet up. Opted-out instances are counted, not examined; instances that are not
/// Amazon Linux are listed and otherwise left out.
pub fn digest(
    instances: &[DigestInstance],
    booked: &[BookedReboot],
    failures: &[RecentFailure],
    now: Timestamp,
) -> Digest {
    let mut d = Digest::default();
    let mut kernels: BTreeMap<(String, Date), Vec<InstanceId>> = BTreeMap::new();
    let mut os_past: BTreeMap<String, (Platform, Date, usize)> = BTreeMap::new();
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    for instance in instances {
        if instance.opted_out {
            d.opted_out += 1;
            continue;
        }
        if matches!(instance.platform, Platform::Other(_)) {
            d.not_amazon_linux
                .push((instance.id.clone(), instance.platform.to_string()));
            continue;
        }
        d.in_scope += 1;
        d.offline += usize::from(!instance.online);
        if let Some(end) = os_end_of_support(&instance.platform).filter(|end| *end < today) {
            os_past
                .entry(instance.platform.to_string())
                .or_insert((instance.platform.clone(), end, 0))
                .2 += 1;
        }
        match &instance.patches {
            None => d.not_scanned += 1,
            Some(view) => {
                if view.compliant {
                    d.compliant += 1;
                } else {
                    d.non_compliant += 1;
                }
                for gap in &view.missing_live_patches {
                    d.missing_live_patches
                        .push((instance.id.clone(), gap.clone()));
                }
            }
        }
        let Some(facts) = &instance.facts else {
            d.no_facts.push(instance.id.clone());
            continue;
        };
        if !facts.live_patching_on() {
            d.live_patching_off.push(instance.id.clone());
            continue;
        }
        d.live_patching_on += 1;
        let not_loaded = facts.modules_not_in_effect();
        if !not_loaded.is_empty() {
            d.not_in_effect.push((instance.id.clone(), not_loaded));
        }
        // The reboot planner's own reading: what it cannot plan is listed, never guessed.
        match SupportFact::of(&instance.platform, facts, false) {
            SupportFact::Ends(SupportWindow { ends: end }) => {
                if SupportWindow::new(end).days_left(now) < 0 {
                    d.out_of_support
                        .push((instance.id.clone(), facts.kernel_release.clone(), end));
                }
                kernels
                    .entry((facts.kernel_release.clone(), end))
                    .or_default()
                    .push(instance.id.clone());
            }
            SupportFact::Unknown(reason) | SupportFact::RebootToEnable(reason) => {
                d.support_unknown.push((instance.id.clone(), reason))
            }
        }
    }
    d.kernels = kernels
        .into_iter()
        .map(|((kernel, end), instances)| KernelLine {
            kernel,
            support_end: end,
            status: SupportWindow::new(end).status(now, ENDING_SOON_DAYS),
            instances,
        })
        .collect();
    d.kernels
        .sort_by(|a, b| (a.support_end, &a.kernel).cmp(&(b.support_end, &b.kernel)));
    d.out_of_support
        .sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    d.os_past_end = os_past.into_values().collect();
    // Unknown severity sorts last; then by instance for a stable order.
    d.missing_live_patches
        .sort_by(|a, b| (b.1.severity, &a.0, &a.1.kb_id).cmp(&(a.1.severity, &b.0, &b.1.kb_id)));
    d.booked = booked.to_vec();
    d.booked
        .sort_by(|a, b| (a.starts, &a.instance).cmp(&(b.starts, &b.instance)));
    d.failures = group_failures(failures);
    d
}

fn group_failures(failures: &[RecentFailure]) -> Vec<FailureLine> {
    let mut grouped: BTreeMap<(String, String, String), FailureLine> = BTreeMap::new();
    for f in failures {
        let key = (f.instance.clone(), f.action.clone(), f.cause.to_string());
        let line = grouped.entry(key).or_insert_with(|| FailureLine {
            instance: f.instance.clone(),
            action: f.action.clone(),
            cause: f.cause.clone(),
            times: 0,
            last: f.at,
        });
        line.times += 1;
        line.last = line.last.max(f.at);
    }
    let mut lines: Vec<FailureLine> = grouped.into_values().collect();
    lines.sort_by(|a, b| {
        b.times
            .cmp(&a.times)
            .then_with(|| a.instance.cmp(&b.instance))
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-03T06:00:00Z".parse().unwrap()
    }

    fn id(n: u32) -> InstanceId {
        format!("i-0a1b2c3d4e5f6{n:04}").parse().unwrap()
    }

    fn facts(kernel: &str, built: &str, on: bool, kpatch_list: &str) -> KernelFacts {
        let entry: BTreeMap<String, String> = [
            ("KernelRelease", kernel),
            ("KernelVersion", built),
            ("OsId", "amzn"),
            ("OsVersion", "2"),
            ("LivePatchPlugin", if on { "installed" } else { "absent" }),
            (
                "KpatchServiceEnabled",
                if on { "enabled" } else { "disabled" },
            ),
            ("KpatchList", kpatch_list),
            ("CollectedAt", "2026-12-03T01:00:00Z"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        KernelFacts::from_inventory(&entry)
    }

    const K1: &str = "5.10.227-219.884.amzn2.x86_64";
    const K2: &str = "5.10.230-223.885.amzn2.x86_64";

    fn al2(n: u32, facts: Option<KernelFacts>, patches: Option<PatchView>) -> DigestInstance {
        DigestInstance {
            id: id(n),
            name: format!("web-{n}"),
            platform: Platform::AmazonLinux2,
            online: true,
            opted_out: false,
            facts,
            patches,
        }
    }

    fn gap(kb: &str, severity: Option<Severity>) -> LivePatchGap {
        LivePatchGap {
            kb_id: kb.into(),
            severity,
            cve_ids: vec!["CVE-2026-21017".into()],
            advisory_ids: vec![],
        }
    }

    #[test]
    fn counts_and_worst_first() {
        let compliant = Some(PatchView {
            compliant: true,
            missing_live_patches: vec![],
        });
        let missing = |severity| {
            Some(PatchView {
                compliant: false,
                missing_live_patches: vec![gap(
                    "kernel-livepatch-5.10.227-219.884.x86_64",
                    severity,
                )],
            })
        };
        // Built 2026-10-13: support to 2027-01-13. Built 2026-08-20: ended 2026-11-20.
        let recent = "#1 SMP Tue Oct 13 18:21:30 UTC 2026";
        let old = "#1 SMP Thu Aug 20 10:00:00 UTC 2026";
        let not_loaded = "Loaded patch modules:\n\nInstalled patch modules:\nlivepatch_CVE_2026_1 (5.10.227-219.884.amzn2.x86_64)\n";
        let mut ubuntu = al2(9, None, None);
        ubuntu.platform = Platform::Other("Ubuntu 22.04".into());
        let mut opted = al2(10, None, None);
        opted.opted_out = true;
        let mut offline = al2(6, None, None);
        offline.online = false;
        let instances = vec![
            al2(1, Some(facts(K1, recent, true, "")), compliant.clone()),
            al2(
                2,
                Some(facts(K1, recent, true, not_loaded)),
                missing(Some(Severity::Important)),
            ),
            al2(
                3,
                Some(facts(K2, old, true, "")),
                missing(Some(Severity::Critical)),
            ),
            al2(4, Some(facts(K1, recent, false, "")), compliant.clone()),
            al2(5, Some(facts(K1, "#1 SMP", true, "")), missing(None)),
            offline,
            ubuntu,
            opted,
        ];
        let d = digest(&instances, &[], &[], now());
        assert_eq!((d.in_scope, d.opted_out, d.offline), (6, 1, 1));
        assert_eq!(d.not_amazon_linux, vec![(id(9), "Ubuntu 22.04".to_owned())]);
        assert_eq!(
            (
                d.live_patching_on,
                d.live_patching_off.clone(),
                d.no_facts.clone()
            ),
            (4, vec![id(4)], vec![id(6)])
        );
        assert_eq!((d.compliant, d.non_compliant, d.not_scanned), (2, 3, 1));
        let order: Vec<_> = d
            .missing_live_patches
            .iter()
            .map(|(i, g)| (i.clone(), g.severity))
            .collect();
        assert_eq!(
            order,
            vec![
                (id(3), Some(Severity::Critical)),
                (id(2), Some(Severity::Important)),
                (id(5), None)
            ]
        );
        assert_eq!(
            d.out_of_support,
            vec![(id(3), K2.to_owned(), Date::constant(2026, 11, 20))]
        );
        assert_eq!(d.kernels.len(), 2);
        assert_eq!(d.kernels[0].kernel, K2, "soonest support end first");
        assert_eq!(d.kernels[1].instances, vec![id(1), id(2)]);
        assert_eq!(d.kernels[1].support_end, Date::constant(2027, 1, 13));
        assert_eq!(
            d.not_in_effect,
            vec![(id(2), vec!["livepatch_CVE_2026_1".to_owned()])]
        );
        assert_eq!(d.support_unknown.len(), 1);
        assert!(d.support_unknown[0].1.contains("#1 SMP"));
        assert_eq!(
            d.os_past_end,
            vec![(Platform::AmazonLinux2, Date::constant(2026, 6, 30), 6)]
        );
    }

    #[test]
    fn what_the_reboot_planner_cannot_plan_is_listed_with_its_reason() {
        let recent = "#1 SMP Tue Oct 13 18:21:30 UTC 2026";
        let instances = vec![
            // A build date is readable, but the product does not know the kernel: no date shown.
            al2(1, Some(facts("5.10.227-custom", recent, true, "")), None),
            // Live patched, yet below the minimum: no live patches, so no support end either.
            al2(
                2,
                Some(facts("4.14.152-124.171.amzn2.x86_64", recent, true, "")),
                None,
            ),
            al2(3, Some(facts(K1, "garbled", true, "")), None),
            al2(4, Some(facts(K1, recent, true, "")), None),
        ];
        let d = digest(&instances, &[], &[], now());
        let unknown: Vec<_> = d.support_unknown.iter().map(|(i, _)| i.clone()).collect();
        assert_eq!(unknown, vec![id(1), id(2), id(3)]);
        assert!(d.support_unknown[0].1.contains("not one the product knows"));
        assert!(d.support_unknown[1].1.contains("below 4.14.165-131.185"));
        assert_eq!(
            d.kernels.len(),
            1,
            "only the known kernel has a support line"
        );
        assert_eq!(d.kernels[0].instances, vec![id(4)]);
    }

    #[test]
    fn al2023_is_not_past_its_os_end() {
        let mut i = al2(1, None, None);
        i.platform = Platform::AmazonLinux2023;
        assert!(digest(&[i], &[], &[], now()).os_past_end.is_empty());
    }

    #[test]
    fn repeated_failures_are_one_line_with_a_count() {
        let at = |h: i64| now() - jiff::SignedDuration::from_hours(h);
        let fail = |instance: &str, cause: FailureCause, h| RecentFailure {
            instance: instance.into(),
            action: "install".into(),
            cause,
            at: at(h),
        };
        let failures = vec![
            fail("i-1", FailureCause::DiskFull, 20),
            fail("i-2", FailureCause::PackageLockHeld, 18),
            fail("i-2", FailureCause::PackageLockHeld, 12),
            fail("i-2", FailureCause::PackageLockHeld, 6),
            fail("i-2", FailureCause::DiskFull, 1),
        ];
        let d = digest(&[], &[], &failures, now());
        let lines: Vec<_> = d
            .failures
            .iter()
            .map(|f| (f.instance.as_str(), f.cause.key(), f.times))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("i-2", "package-lock-held", 3),
                ("i-1", "disk-full", 1),
                ("i-2", "disk-full", 1)
            ]
        );
        assert_eq!(d.failures[0].last, at(6));
    }

    #[test]
    fn bookings_in_time_order() {
        let b = |n, h: i64| BookedReboot {
            instance: id(n),
            starts: now() + jiff::SignedDuration::from_hours(h),
            label: format!("+{h}h"),
        };
        let d = digest(&[], &[b(2, 48), b(1, 24), b(3, 24)], &[], now());
        let order: Vec<_> = d.booked.iter().map(|b| b.instance.clone()).collect();
        assert_eq!(order, vec![id(1), id(3), id(2)]);
    }
}
