//! Patch Manager vocabulary: severities, classifications, patch states, compliance status.
//!
//! AWS spells several of these inconsistently (the API model says `INSTALLED_PENDING_REBOOT`,
//! the documentation and real responses `InstalledPendingReboot`; events say `non_compliant`),
//! so parsing is tolerant and display uses one canonical spelling.

use std::cmp::Ordering;
use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value Patch Manager reported that this crate does not know; names the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// What was being parsed (`"severity"`, ...).
    pub what: &'static str,
    /// The rejected value.
    pub value: String,
}

fn unknown(what: &'static str, value: &str) -> UnknownValue {
    UnknownValue {
        what,
        value: value.to_owned(),
    }
}

/// Lower case without `_`, `-` or spaces: `INSTALLED_PENDING_REBOOT` == `InstalledPendingReboot`.
fn normalise(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Serde via `Display` / `FromStr`, so wire values are the canonical strings.
macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Amazon Linux advisory severity, ordered `Unspecified < Low < Medium < Important < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// No severity given (`""`, `None`, `Unspecified`): lowest.
    Unspecified,
    /// `Low`.
    Low,
    /// `Medium` (RHEL-style `Moderate` is read as this).
    Medium,
    /// `Important`.
    Important,
    /// `Critical`.
    Critical,
}

impl Severity {
    /// The AWS spelling, as in baseline rules.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unspecified => "Unspecified",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::Important => "Important",
            Severity::Critical => "Critical",
        }
    }
}

impl FromStr for Severity {
    type Err = UnknownValue;

    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match normalise(s).as_str() {
            "critical" => Severity::Critical,
            "important" => Severity::Important,
            "medium" | "moderate" => Severity::Medium,
            "low" => Severity::Low,
            "" | "none" | "unspecified" => Severity::Unspecified,
            _ => return Err(unknown("severity", s)),
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_as_string!(Severity);

/// Advisory classification, ordered by importance:
/// `Security > Bugfix > Enhancement > Recommended > Newpackage > Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Classification {
    /// `Security`.
    Security,
    /// `Bugfix`.
    Bugfix,
    /// `Enhancement`.
    Enhancement,
    /// `Recommended`.
    Recommended,
    /// `Newpackage`.
    Newpackage,
    /// Anything else, as reported (trimmed); least important.
    Other(String),
}

impl Classification {
    fn rank(&self) -> u8 {
        match self {
            Classification::Security => 5,
            Classification::Bugfix => 4,
            Classification::Enhancement => 3,
            Classification::Recommended => 2,
            Classification::Newpackage => 1,
            Classification::Other(_) => 0,
        }
    }

    /// The AWS spelling (or the reported text for `Other`).
    pub fn as_str(&self) -> &str {
        match self {
            Classification::Security => "Security",
            Classification::Bugfix => "Bugfix",
            Classification::Enhancement => "Enhancement",
            Classification::Recommended => "Recommended",
            Classification::Newpackage => "Newpackage",
            Classification::Other(s) => s,
        }
    }
}

impl Ord for Classification {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank()
            .cmp(&other.rank())
            .then_with(|| self.as_str().cmp(other.as_str()))
    }
}

impl PartialOrd for Classification {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for Classification {
    type Err = UnknownValue;

    /// Case-insensitive; unknown words become `Other`, only an empty value is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match normalise(s).as_str() {
            "" => return Err(unknown("classification (empty)", s)),
            "security" => Classification::Security,
            "bugfix" => Classification::Bugfix,
            "enhancement" => Classification::Enhancement,
            "recommended" => Classification::Recommended,
            "newpackage" => Classification::Newpackage,
            _ => Classification::Other(s.trim().to_owned()),
        })
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_as_string!(Classification);

/// The rating Patch Manager reports for a live patch fixing several CVEs: the highest
/// classification, and among the CVEs with that classification the highest severity.
/// `None` for no CVEs.
pub fn highest<I>(ratings: I) -> Option<(Classification, Severity)>
where
    I: IntoIterator<Item = (Classification, Severity)>,
{
    ratings.into_iter().max()
}

/// The state of one patch on one instance (`DescribeInstancePatches`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PatchState {
    /// Installed by the baseline: compliant.
    Installed,
    /// Installed though not approved: compliant.
    InstalledOther,
    /// Installed with `NoReboot` and not yet in effect: non-compliant until reboot and Scan.
    InstalledPendingReboot,
    /// Installed but rejected by the baseline: non-compliant.
    InstalledRejected,
    /// Approved and not installed: non-compliant.
    Missing,
    /// Not applicable to this instance: never counts either way.
    NotApplicable,
    /// The install failed: non-compliant.
    Failed,
    /// A spelling this crate does not know, verbatim; counts neither way.
    Unknown(String),
}

impl PatchState {
    /// Accepts both `MISSING` (API model) and `Missing` (documentation, real responses):
    /// compared case- and underscore-insensitively. Never fails; see [`PatchState::Unknown`].
    pub fn parse(s: &str) -> PatchState {
        match normalise(s).as_str() {
            "installed" => PatchState::Installed,
            "installedother" => PatchState::InstalledOther,
            "installedpendingreboot" => PatchState::InstalledPendingReboot,
            "installedrejected" => PatchState::InstalledRejected,
            "missing" => PatchState::Missing,
            "notapplicable" => PatchState::NotApplicable,
            "failed" => PatchState::Failed,
            _ => PatchState::Unknown(s.to_owned()),
        }
    }

    /// Installed or InstalledOther.
    pub fn is_compliant(&self) -> bool {
        matches!(self, PatchState::Installed | PatchState::InstalledOther)
    }

    /// Missing, Failed, InstalledPendingReboot or InstalledRejected. NotApplicable never is.
    pub fn is_non_compliant(&self) -> bool {
        matches!(
            self,
            PatchState::Missing
                | PatchState::Failed
                | PatchState::InstalledPendingReboot
                | PatchState::InstalledRejected
        )
    }

    /// The documentation spelling (`InstalledPendingReboot`); `Unknown` as received.
    pub fn as_str(&self) -> &str {
        match self {
            PatchState::Installed => "Installed",
            PatchState::InstalledOther => "InstalledOther",
            PatchState::InstalledPendingReboot => "InstalledPendingReboot",
            PatchState::InstalledRejected => "InstalledRejected",
            PatchState::Missing => "Missing",
            PatchState::NotApplicable => "NotApplicable",
            PatchState::Failed => "Failed",
            PatchState::Unknown(s) => s,
        }
    }

    /// The API model spelling (`INSTALLED_PENDING_REBOOT`), e.g. for request filters.
    pub fn api_name(&self) -> Option<&'static str> {
        Some(match self {
            PatchState::Installed => "INSTALLED",
            PatchState::InstalledOther => "INSTALLED_OTHER",
            PatchState::InstalledPendingReboot => "INSTALLED_PENDING_REBOOT",
            PatchState::InstalledRejected => "INSTALLED_REJECTED",
            PatchState::Missing => "MISSING",
            PatchState::NotApplicable => "NOT_APPLICABLE",
            PatchState::Failed => "FAILED",
            PatchState::Unknown(_) => return None,
        })
    }
}

impl FromStr for PatchState {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(PatchState::parse(s))
    }
}

impl From<&str> for PatchState {
    fn from(s: &str) -> Self {
        PatchState::parse(s)
    }
}

impl fmt::Display for PatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_as_string!(PatchState);

/// The `compliance-status` of a compliance change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComplianceStatus {
    /// `compliant`.
    Compliant,
    /// `non_compliant`.
    NonCompliant,
}

/// Whether a parsed value used the canonical spelling, so callers can log drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spelling {
    /// Exactly the canonical form (`compliant`, `non_compliant`).
    Canonical,
    /// Accepted, but spelled differently (`COMPLIANT`, `NonCompliant`, ...).
    Variant,
}

impl ComplianceStatus {
    /// The canonical lower-case event spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceStatus::Compliant => "compliant",
            ComplianceStatus::NonCompliant => "non_compliant",
        }
    }

    /// Parses case- and underscore-insensitively, also saying whether `s` was canonical.
    pub fn parse_noting_spelling(s: &str) -> Result<(Self, Spelling), UnknownValue> {
        let status = match normalise(s).as_str() {
            "compliant" => ComplianceStatus::Compliant,
            "noncompliant" => ComplianceStatus::NonCompliant,
            _ => return Err(unknown("compliance status", s)),
        };
        let spelling = if s == status.as_str() {
            Spelling::Canonical
        } else {
            Spelling::Variant
        };
        Ok((status, spelling))
    }
}

impl FromStr for ComplianceStatus {
    type Err = UnknownValue;

    /// Lenient; use [`ComplianceStatus::parse_noting_spelling`] to detect non-canonical input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_noting_spelling(s).map(|(status, _)| status)
    }
}

impl fmt::Display for ComplianceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

serde_as_string!(ComplianceStatus);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_parses_case_insensitively() {
        for (s, expected) in [
            ("critical", Severity::Critical),
            ("CRITICAL", Severity::Critical),
            ("Critical", Severity::Critical),
            (" Important ", Severity::Important),
            ("medium", Severity::Medium),
            ("Moderate", Severity::Medium),
            ("LOW", Severity::Low),
            ("", Severity::Unspecified),
            ("None", Severity::Unspecified),
            ("UNSPECIFIED", Severity::Unspecified),
        ] {
            assert_eq!(s.parse::<Severity>().unwrap(), expected, "{s:?}");
        }
        let err = "High".parse::<Severity>().unwrap_err();
        assert_eq!(err.to_string(), r#"unknown severity "High""#);
    }

    #[test]
    fn severity_order_and_display() {
        assert!(Severity::Critical > Severity::Important);
        assert!(Severity::Important > Severity::Medium);
        assert!(Severity::Medium > Severity::Low);
        assert!(Severity::Low > Severity::Unspecified);
        let names: Vec<String> = [
            Severity::Critical,
            Severity::Important,
            Severity::Medium,
            Severity::Low,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(names, ["Critical", "Important", "Medium", "Low"]);
    }

    #[test]
    fn classification_parses_and_orders() {
        assert_eq!(
            "security".parse::<Classification>().unwrap(),
            Classification::Security
        );
        assert_eq!(
            "SECURITY".parse::<Classification>().unwrap(),
            Classification::Security
        );
        assert_eq!(
            "Bugfix".parse::<Classification>().unwrap(),
            Classification::Bugfix
        );
        assert_eq!(
            "enhancement".parse::<Classification>().unwrap(),
            Classification::Enhancement
        );
        assert_eq!(
            "Recommended".parse::<Classification>().unwrap(),
            Classification::Recommended
        );
        assert_eq!(
            "NewPackage".parse::<Classification>().unwrap(),
            Classification::Newpackage
        );
        assert_eq!(
            " SecurityUpdates ".parse::<Classification>().unwrap(),
            Classification::Other("SecurityUpdates".into())
        );
        assert!("  ".parse::<Classification>().is_err());

        let mut all = [
            Classification::Other("x".into()),
            Classification::Security,
            Classification::Newpackage,
            Classification::Bugfix,
            Classification::Recommended,
            Classification::Enhancement,
        ];
        all.sort();
        let names: Vec<&str> = all.iter().map(Classification::as_str).collect();
        assert_eq!(
            names,
            [
                "x",
                "Newpackage",
                "Recommended",
                "Enhancement",
                "Bugfix",
                "Security"
            ]
        );
        assert!(Classification::Other("b".into()) > Classification::Other("a".into()));
    }

    #[test]
    fn highest_prefers_classification_then_severity() {
        use Classification::*;
        assert_eq!(highest(Vec::new()), None);
        assert_eq!(
            highest([(Bugfix, Severity::Critical), (Security, Severity::Low)]),
            Some((Security, Severity::Low))
        );
        assert_eq!(
            highest([
                (Security, Severity::Medium),
                (Security, Severity::Important),
                (Bugfix, Severity::Critical),
                (Security, Severity::Low),
            ]),
            Some((Security, Severity::Important))
        );
        assert_eq!(
            highest([(Bugfix, Severity::Low), (Bugfix, Severity::Unspecified)]),
            Some((Bugfix, Severity::Low))
        );
        assert_eq!(
            highest([
                (Other("x".into()), Severity::Critical),
                (Newpackage, Severity::Low)
            ]),
            Some((Newpackage, Severity::Low))
        );
    }

    #[test]
    fn patch_state_accepts_both_spellings() {
        let pairs = [
            ("INSTALLED", "Installed", PatchState::Installed),
            (
                "INSTALLED_OTHER",
                "InstalledOther",
                PatchState::InstalledOther,
            ),
            (
                "INSTALLED_PENDING_REBOOT",
                "InstalledPendingReboot",
                PatchState::InstalledPendingReboot,
            ),
            (
                "INSTALLED_REJECTED",
                "InstalledRejected",
                PatchState::InstalledRejected,
            ),
            ("MISSING", "Missing", PatchState::Missing),
            ("NOT_APPLICABLE", "NotApplicable", PatchState::NotApplicable),
            ("FAILED", "Failed", PatchState::Failed),
        ];
        for (api, doc, state) in pairs {
            assert_eq!(PatchState::parse(api), state, "{api}");
            assert_eq!(PatchState::parse(doc), state, "{doc}");
            assert_eq!(PatchState::parse(&doc.to_lowercase()), state, "{doc} lower");
            assert_eq!(state.to_string(), doc);
            assert_eq!(state.api_name(), Some(api));
        }
        assert_eq!(
            PatchState::parse("Installed_Pending_Reboot"),
            PatchState::InstalledPendingReboot
        );
        assert_eq!(
            PatchState::parse("Superseded"),
            PatchState::Unknown("Superseded".into())
        );
        assert_eq!(
            PatchState::Unknown("Superseded".into()).to_string(),
            "Superseded"
        );
        assert_eq!(PatchState::Unknown("x".into()).api_name(), None);
        assert_eq!("MISSING".parse::<PatchState>(), Ok(PatchState::Missing));
        assert_eq!(PatchState::from("Failed"), PatchState::Failed);
    }

    #[test]
    fn compliance_of_states() {
        use PatchState::*;
        let compliant = [Installed, InstalledOther];
        let non_compliant = [Missing, Failed, InstalledPendingReboot, InstalledRejected];
        for s in &compliant {
            assert!(s.is_compliant() && !s.is_non_compliant(), "{s}");
        }
        for s in &non_compliant {
            assert!(!s.is_compliant() && s.is_non_compliant(), "{s}");
        }
        for s in [NotApplicable, Unknown("x".into())] {
            assert!(!s.is_compliant() && !s.is_non_compliant(), "{s}");
        }
    }

    #[test]
    fn compliance_status_spellings() {
        use ComplianceStatus::*;
        assert_eq!(
            ComplianceStatus::parse_noting_spelling("compliant"),
            Ok((Compliant, Spelling::Canonical))
        );
        assert_eq!(
            ComplianceStatus::parse_noting_spelling("non_compliant"),
            Ok((NonCompliant, Spelling::Canonical))
        );
        for variant in ["COMPLIANT", "Compliant", " compliant"] {
            assert_eq!(
                ComplianceStatus::parse_noting_spelling(variant),
                Ok((Compliant, Spelling::Variant)),
                "{variant:?}"
            );
        }
        for variant in ["NON_COMPLIANT", "NonCompliant", "non-compliant"] {
            assert_eq!(
                ComplianceStatus::parse_noting_spelling(variant),
                Ok((NonCompliant, Spelling::Variant)),
                "{variant:?}"
            );
        }
        let err = "noncompliance".parse::<ComplianceStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unknown compliance status "noncompliance""#
        );
        assert!("".parse::<ComplianceStatus>().is_err());
        assert_eq!(NonCompliant.to_string(), "non_compliant");
    }

    #[test]
    fn serde_uses_canonical_strings() {
        assert_eq!(
            serde_json::to_string(&Severity::Important).unwrap(),
            r#""Important""#
        );
        assert_eq!(
            serde_json::from_str::<Severity>(r#""critical""#).unwrap(),
            Severity::Critical
        );
        assert!(serde_json::from_str::<Severity>(r#""High""#)
            .unwrap_err()
            .to_string()
            .contains("High"));
        assert_eq!(
            serde_json::to_string(&Classification::Bugfix).unwrap(),
            r#""Bugfix""#
        );
        assert_eq!(
            serde_json::from_str::<PatchState>(r#""INSTALLED_PENDING_REBOOT""#).unwrap(),
            PatchState::InstalledPendingReboot
        );
        assert_eq!(
            serde_json::to_string(&PatchState::InstalledPendingReboot).unwrap(),
            r#""InstalledPendingReboot""#
        );
        assert_eq!(
            serde_json::from_str::<ComplianceStatus>(r#""non_compliant""#).unwrap(),
            ComplianceStatus::NonCompliant
        );
        assert_eq!(
            serde_json::to_string(&ComplianceStatus::Compliant).unwrap(),
            r#""compliant""#
        );
        assert!(serde_json::from_str::<ComplianceStatus>(r#""maybe""#).is_err());
    }
}
