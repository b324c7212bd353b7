//! Kernel facts as the product's facts document records them: custom inventory
//! `Custom:KernelLivePatch`, string values only.
//!
//! Live patching counts as on when the plugin is installed; whether the installed patches are in
//! effect (loaded by kpatch) is a separate question, [`KernelFacts::modules_not_in_effect`].

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::kernel::Dist;
use crate::support::{al2023_support_end, al2_build_date, support_end_from_build};
use crate::{KernelRelease, KpatchList, LivePatchPackage};

/// The custom inventory type that holds each instance's kernel facts.
pub const KERNEL_FACTS_TYPE: &str = "Custom:KernelLivePatch";

/// One instance's kernel facts, as the last run of the facts document collected them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelFacts {
    /// `uname -r`.
    pub kernel_release: String,
    /// `uname -v`: on AL2 it carries the build date that starts the support window.
    pub kernel_version: String,
    pub os_id: String,
    /// `2` or `2023`.
    pub os_version: String,
    pub arch: String,
    /// The live patch plugin is installed.
    pub plugin_installed: bool,
    pub kpatch_service_enabled: String,
    pub kpatch_service_active: String,
    /// `kpatch list`, verbatim.
    pub kpatch_list: String,
    /// AL2023: the `dnf kernel-livepatch support` line.
    pub support_output: String,
    /// `yum/dnf updateinfo list` lines of the live patches offered and not installed:
    /// `ALAS2LIVEPATCH-2020-002 important/Sec. kernel-livepatch-4.14.165-131.185-1.0-3.amzn2.x86_64`.
    pub livepatch_advisories: String,
    pub collected_at: String,
}

impl KernelFacts {
    /// Reads an inventory entry; missing fields are empty.
    pub fn from_inventory(entry: &BTreeMap<String, String>) -> Self {
        let field = |name: &str| entry.get(name).cloned().unwrap_or_default();
        KernelFacts {
            kernel_release: field("KernelRelease").trim().to_owned(),
            kernel_version: field("KernelVersion").trim().to_owned(),
            os_id: field("OsId").trim().to_owned(),
            os_version: field("OsVersion").trim().to_owned(),
            arch: field("Arch").trim().to_owned(),
            plugin_installed: field("LivePatchPlugin").trim() == "installed",
            kpatch_service_enabled: field("KpatchServiceEnabled").trim().to_owned(),
            kpatch_service_active: field("KpatchServiceActive").trim().to_owned(),
            kpatch_list: field("KpatchList"),
            support_output: field("SupportOutput"),
            livepatch_advisories: field("LivePatchAdvisories"),
            collected_at: field("CollectedAt").trim().to_owned(),
        }
    }

    /// Live patching is on: the plugin is installed (whether the patches load is
    /// [`KernelFacts::modules_not_in_effect`]).
    pub fn live_patching_on(&self) -> bool {
        self.plugin_installed
    }

    /// The advisory ids of the live patches offered, by Patch Manager's KBId (`name.arch`), each
    /// list in the order `updateinfo` printed it. Lines that do not end in a live patch package
    /// are skipped: Patch Manager reports the missing package and its CVEs, never the advisory.
    pub fn livepatch_advisories(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in self.livepatch_advisories.lines() {
            let mut words = line.split_whitespace();
            let (Some(advisory), Some(package)) = (words.next(), words.last()) else {
                continue;
            };
            let Ok(package) = LivePatchPackage::parse(package) else {
                continue;
            };
            let ids = out.entry(package.kb_id()).or_default();
            if !ids.iter().any(|a| a == advisory) {
                ids.push(advisory.to_owned());
            }
        }
        out
    }

    /// Live patch modules installed for the running kernel that are not loaded and enabled.
    pub fn modules_not_in_effect(&self) -> Vec<String> {
        let Ok(list) = KpatchList::parse(&self.kpatch_list) else {
            return Vec::new();
        };
        match self.kernel_release.parse::<KernelRelease>() {
            Ok(kernel) => list
                .not_in_effect(&kernel)
                .into_iter()
                .map(|m| m.name.clone())
                .collect(),
            Err(_) => list
                .installed()
                .iter()
                .filter(|m| !list.is_in_effect(&m.name))
                .map(|m| m.name.clone())
                .collect(),
        }
    }

    /// The last day the running kernel receives live patches: on AL2 its build date (`uname -v`)
    /// plus three months, on AL2023 what `dnf kernel-livepatch support` printed.
    pub fn support_end(&self) -> Result<Date, String> {
        let dist = match self.kernel_release.parse::<KernelRelease>() {
            Ok(kernel) => kernel.dist(),
            Err(_) if self.os_version == "2023" => Dist::Amzn2023,
            Err(_) if self.os_version == "2" => Dist::Amzn2,
            Err(err) => return Err(err.to_string()),
        };
        match dist {
            Dist::Amzn2 => al2_build_date(&self.kernel_version)
                .map(support_end_from_build)
                .map_err(|e| e.to_string()),
            Dist::Amzn2023 => al2023_support_end(&self.support_output).map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_the_fields_and_judges_live_patching() {
        let facts = KernelFacts::from_inventory(&entry(&[
            ("KernelRelease", "5.10.227-219.884.amzn2.x86_64"),
            ("KernelVersion", "#1 SMP Tue Oct 13 18:21:30 UTC 2026"),
            ("OsVersion", "2"),
            ("LivePatchPlugin", "installed"),
            ("KpatchList", "Loaded patch modules:\n\nInstalled patch modules:\nlivepatch_CVE_2026_1 (5.10.227-219.884.amzn2.x86_64)\n"),
        ]));
        assert!(facts.live_patching_on());
        assert_eq!(facts.modules_not_in_effect(), ["livepatch_CVE_2026_1"]);
        assert_eq!(facts.support_end(), Ok(Date::constant(2027, 1, 13)));
        let empty = KernelFacts::from_inventory(&BTreeMap::new());
        assert!(!empty.live_patching_on());
        assert!(empty.modules_not_in_effect().is_empty());
        assert!(empty.support_end().is_err());
    }

    #[test]
    fn advisories_of_offered_live_patches_by_kb_id() {
        let facts = KernelFacts::from_inventory(&entry(&[(
            "LivePatchAdvisories",
            "ALAS2LIVEPATCH-2026-031 important/Sec. kernel-livepatch-5.10.227-219.884-1.0-2.amzn2.x86_64\n\
             ALAS2LIVEPATCH-2026-034 critical/Sec. kernel-livepatch-5.10.227-219.884-1.0-3.amzn2.x86_64\n\
             ALAS2LIVEPATCH-2026-034 critical/Sec. kernel-livepatch-5.10.227-219.884-1.0-3.amzn2.x86_64\n\
             ALAS2023LIVEPATCH-2026-007 important/Sec. kernel-livepatch-6.1.115-126.197-1.0-1.amzn2023.x86_64\n\
             ALAS2-2026-2801 important/Sec. kernel-5.10.228-220.886.amzn2.x86_64\n\
             \n\
             garbage",
        )]));
        let by_kb = facts.livepatch_advisories();
        assert_eq!(
            by_kb["kernel-livepatch-5.10.227-219.884.x86_64"],
            ["ALAS2LIVEPATCH-2026-031", "ALAS2LIVEPATCH-2026-034"]
        );
        assert_eq!(
            by_kb["kernel-livepatch-6.1.115-126.197.x86_64"],
            ["ALAS2023LIVEPATCH-2026-007"]
        );
        assert_eq!(by_kb.len(), 2, "{by_kb:?}");
        assert!(KernelFacts::default().livepatch_advisories().is_empty());
    }

    #[test]
    fn al2023_support_end_comes_from_the_support_line() {
        let facts = KernelFacts::from_inventory(&entry(&[
            ("KernelRelease", "6.1.115-126.197.amzn2023.x86_64"),
            ("SupportOutput", "kernel-6.1.115-126.197.amzn2023.x86_64 will no longer receive live patches after 2027-04-21."),
        ]));
        assert_eq!(facts.support_end(), Ok(Date::constant(2027, 4, 21)));
    }
}
