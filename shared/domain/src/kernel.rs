//! Running kernels (`uname -r`), Amazon Linux platforms, and which kernels get live patches.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rpmver::rpmvercmp;

/// The distribution tag in a kernel release (`.amzn2`, `.amzn2023`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Dist {
    /// `amzn2`: Amazon Linux 2.
    #[serde(rename = "amzn2")]
    Amzn2,
    /// `amzn2023`: Amazon Linux 2023.
    #[serde(rename = "amzn2023")]
    Amzn2023,
}

impl Dist {
    /// The tag as it appears in package and kernel names.
    pub fn as_str(self) -> &'static str {
        match self {
            Dist::Amzn2 => "amzn2",
            Dist::Amzn2023 => "amzn2023",
        }
    }

    /// Recognises a tag exactly as RPM writes it; anything else (`amzn1`, `el9`) is `None`.
    pub fn from_tag(tag: &str) -> Option<Dist> {
        match tag {
            "amzn2" => Some(Dist::Amzn2),
            "amzn2023" => Some(Dist::Amzn2023),
            _ => None,
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CPU architecture as RPM and `uname -r` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Arch {
    /// `x86_64`.
    #[serde(rename = "x86_64")]
    X86_64,
    /// `aarch64` (Graviton, "arm64" in EC2 terms).
    #[serde(rename = "aarch64")]
    Aarch64,
}

impl Arch {
    /// The RPM spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Recognises the RPM spelling only, so that parsed names print back unchanged.
    pub fn from_tag(tag: &str) -> Option<Arch> {
        match tag {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a kernel release string was rejected; always names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// Not of the form `<version>-<release>.<dist>[.<arch>]`.
    #[error("kernel release {input:?} is malformed: {why}")]
    Malformed {
        /// The rejected string.
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Well formed, but not an Amazon Linux 2 or 2023 kernel (e.g. Ubuntu's `5.15.0-1034-aws`).
    #[error("kernel release {input:?} is not an Amazon Linux 2 or 2023 kernel (no .amzn2/.amzn2023 tag)")]
    UnknownDist {
        /// The rejected string.
        input: String,
    },
    /// Something follows the dist tag that is not a known architecture.
    #[error("kernel release {input:?} has unknown architecture {arch:?}")]
    UnknownArch {
        /// The rejected string.
        input: String,
        /// The unrecognised suffix.
        arch: String,
    },
}

/// A kernel as `uname -r` names it: `4.14.165-131.185.amzn2.x86_64`.
///
/// Ordering follows RPM: version, then release (both with [`rpmvercmp`]); only kernels of the
/// same dist are meaningfully ordered. Dist, arch and the exact text break remaining ties so
/// that `Ord` agrees with `Eq`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelRelease {
    version: String,
    release: String,
    dist: Dist,
    arch: Option<Arch>,
    series: (u32, u32),
}

impl KernelRelease {
    /// Builds a release from its parts, validating them as [`FromStr`] would.
    pub fn new(
        version: &str,
        release: &str,
        dist: Dist,
        arch: Option<Arch>,
    ) -> Result<Self, KernelError> {
        let mut text = format!("{version}-{release}.{dist}");
        if let Some(arch) = arch {
            text.push('.');
            text.push_str(arch.as_str());
        }
        text.parse()
    }

    /// Upstream kernel version, e.g. `4.14.165`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Package release without the dist tag, e.g. `131.185`.
    pub fn release(&self) -> &str {
        &self.release
    }

    /// The distribution the kernel was built for.
    pub fn dist(&self) -> Dist {
        self.dist
    }

    /// The architecture, when the string carried one.
    pub fn arch(&self) -> Option<Arch> {
        self.arch
    }

    /// Major and minor version, e.g. `(5, 10)`: live patch support is decided per series.
    pub fn series(&self) -> (u32, u32) {
        self.series
    }

    /// Same kernel build: version, release and dist equal, and arches not in conflict (a
    /// missing arch matches either).
    pub fn same_build(&self, other: &KernelRelease) -> bool {
        self.version == other.version
            && self.release == other.release
            && self.dist == other.dist
            && match (self.arch, other.arch) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// RPM comparison of version then release, ignoring dist and arch.
    pub fn cmp_rpm(&self, other: &KernelRelease) -> Ordering {
        rpmvercmp(&self.version, &other.version)
            .then_with(|| rpmvercmp(&self.release, &other.release))
    }
}

impl Ord for KernelRelease {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_rpm(other)
            .then_with(|| self.dist.cmp(&other.dist))
            .then_with(|| self.arch.cmp(&other.arch))
            .then_with(|| self.version.cmp(&other.version))
            .then_with(|| self.release.cmp(&other.release))
    }
}

impl PartialOrd for KernelRelease {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for KernelRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}.{}", self.version, self.release, self.dist)?;
        if let Some(arch) = self.arch {
            write!(f, ".{arch}")?;
        }
        Ok(())
    }
}

impl FromStr for KernelRelease {
    type Err = KernelError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let malformed = |why| KernelError::Malformed {
            input: input.to_owned(),
            why,
        };
        // `uname -r` output arrives with its newline; the error still quotes it verbatim.
        let (version, rest) = input
            .trim()
            .split_once('-')
            .ok_or_else(|| malformed("no '-' between version and release"))?;
        let series = parse_series(version).ok_or_else(|| {
            malformed("version must be dot-separated numbers, at least major.minor")
        })?;

        // The dist tag is the first segment that names one; a foreign kernel has none.
        let segments: Vec<&str> = rest.split('.').collect();
        let Some(pos) = segments.iter().position(|s| Dist::from_tag(s).is_some()) else {
            return Err(KernelError::UnknownDist {
                input: input.to_owned(),
            });
        };
        let dist = Dist::from_tag(segments[pos]).expect("position found a dist tag");
        let release = segments[..pos].join(".");
        if release.is_empty()
            || segments[..pos]
                .iter()
                .any(|s| s.is_empty() || !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
        {
            return Err(malformed(
                "release before the dist tag must be dot-separated alphanumerics",
            ));
        }
        let arch = match &segments[pos + 1..] {
            [] => None,
            tail => {
                let suffix = tail.join(".");
                Some(Arch::from_tag(&suffix).ok_or(KernelError::UnknownArch {
                    input: input.to_owned(),
                    arch: suffix,
                })?)
            }
        };
        Ok(KernelRelease {
            version: version.to_owned(),
            release,
            dist,
            arch,
            series,
        })
    }
}

/// `4.14.165` -> `(4, 14)`, requiring every component to be numeric.
fn parse_series(version: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() < 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    Some((parts[0].parse().ok()?, parts[1].parse().ok()?))
}

impl Serialize for KernelRelease {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KernelRelease {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The operating system of a managed instance, as far as live patching cares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Amazon Linux 2.
    AmazonLinux2,
    /// Amazon Linux 2023.
    AmazonLinux2023,
    /// Anything else, kept as `"<name> <version>"` for reports.
    Other(String),
}

impl Platform {
    /// Interprets `PlatformName` and `PlatformVersion` from SSM `DescribeInstanceInformation`.
    ///
    /// SSM reports `"Amazon Linux"` with `"2"` or `"2023"`; point releases such as
    /// `"2023.6.20241010"` and names that already carry the version (`"Amazon Linux 2"`) are
    /// tolerated. Amazon Linux 1 (`"Amazon Linux AMI"`, `"2018.03"`) and all others are `Other`.
    pub fn from_ssm(platform_name: &str, platform_version: &str) -> Platform {
        let name = platform_name.trim();
        let version = platform_version.trim();
        let other = || {
            let joined = format!("{name} {version}");
            Platform::Other(joined.trim().to_owned())
        };
        let Some(rest) = strip_prefix_ignore_case(name, "amazon linux") else {
            return other();
        };
        let in_name = rest.trim();
        // A version in the name ("Amazon Linux 2") must agree with the version field, if any.
        let major = version.split('.').next().unwrap_or("");
        let major = match (in_name, major) {
            ("", m) | (m, "") => m,
            (n, m) if n == m => m,
            _ => return other(),
        };
        match major {
            "2" => Platform::AmazonLinux2,
            "2023" => Platform::AmazonLinux2023,
            _ => other(),
        }
    }

    /// The dist tag its kernels and packages carry, if it is an Amazon Linux we handle.
    pub fn dist(&self) -> Option<Dist> {
        match self {
            Platform::AmazonLinux2 => Some(Dist::Amzn2),
            Platform::AmazonLinux2023 => Some(Dist::Amzn2023),
            Platform::Other(_) => None,
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Platform::AmazonLinux2 => f.write_str("Amazon Linux 2"),
            Platform::AmazonLinux2023 => f.write_str("Amazon Linux 2023"),
            Platform::Other(s) => f.write_str(s),
        }
    }
}

impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Platform::from_ssm(&text, ""))
    }
}

/// The AL2 4.14 kernel below which enabling live patching installs a newer kernel and reboots.
const AL2_414_MINIMUM: (&str, &str) = ("4.14.165", "131.185");

/// Whether a running kernel can receive live patches (DOMAIN.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LivePatchSupport {
    /// Live patches are published for this kernel series on this platform and arch.
    Supported,
    /// Right series, but older than `minimum`: enabling live patching would install a newer
    /// kernel **and reboot**, so it must not happen outside a maintenance window.
    BelowMinimum {
        /// The oldest kernel that can be live patched without a reboot.
        minimum: KernelRelease,
    },
    /// No live patches will ever arrive for this kernel; only a kernel change helps.
    NoLivePatches {
        /// Human-readable explanation for reports.
        reason: String,
    },
}

impl LivePatchSupport {
    /// True only for [`LivePatchSupport::Supported`].
    pub fn is_supported(&self) -> bool {
        matches!(self, LivePatchSupport::Supported)
    }
}

/// Decides live patch support for `kernel` running on `platform`.
///
/// AL2: 4.14 (x86_64 only, at least `4.14.165-131.185`) and 5.10 (x86_64 and arm64).
/// AL2023: 6.1 and 6.12 on both arches. A 4.14 kernel whose arch is unknown is reported as
/// `NoLivePatches`: guessing x86_64 could lead to enabling (and rebooting) on arm64.
pub fn livepatch_support(platform: &Platform, kernel: &KernelRelease) -> LivePatchSupport {
    let none = |reason: String| LivePatchSupport::NoLivePatches { reason };
    let Some(dist) = platform.dist() else {
        return none(format!("{platform} does not offer kernel live patching"));
    };
    if kernel.dist() != dist {
        return none(format!(
            "kernel {kernel} is built for {} but the instance reports {platform}",
            kernel.dist()
        ));
    }
    let (major, minor) = kernel.series();
    match (dist, (major, minor), kernel.arch()) {
        (Dist::Amzn2, (4, 14), Some(Arch::X86_64)) => {
            let minimum = KernelRelease::new(AL2_414_MINIMUM.0, AL2_414_MINIMUM.1, Dist::Amzn2, kernel.arch())
                .expect("the built-in minimum kernel is valid");
            if kernel.cmp_rpm(&minimum) == Ordering::Less {
                LivePatchSupport::BelowMinimum { minimum }
            } else {
                LivePatchSupport::Supported
            }
        }
        (Dist::Amzn2, (4, 14), Some(Arch::Aarch64)) => {
            none(format!("{platform} has no live patches for kernel 4.14 on aarch64 ({kernel})"))
        }
        (Dist::Amzn2, (4, 14), None) => none(format!(
            "{platform} has live patches for kernel 4.14 on x86_64 only, and the architecture of {kernel} is unknown"
        )),
        (Dist::Amzn2, (5, 10), _) => LivePatchSupport::Supported,
        (Dist::Amzn2023, (6, 1) | (6, 12), _) => LivePatchSupport::Supported,
        _ => none(format!("{platform} has no live patches for kernel series {major}.{minor} ({kernel})")),
    }
}

/// End of standard support for the operating system itself, if known.
pub fn os_end_of_support(platform: &Platform) -> Option<Date> {
    match platform {
        Platform::AmazonLinux2 => Some(Date::constant(2026, 6, 30)),
        Platform::AmazonLinux2023 => Some(Date::constant(2029, 6, 30)),
        Platform::Other(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> KernelRelease {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_al2_and_al2023_kernels() {
        let cases = [
            (
                "4.14.165-131.185.amzn2.x86_64",
                "4.14.165",
                "131.185",
                Dist::Amzn2,
                Some(Arch::X86_64),
                (4, 14),
            ),
            (
                "5.10.102-99.473.amzn2.x86_64",
                "5.10.102",
                "99.473",
                Dist::Amzn2,
                Some(Arch::X86_64),
                (5, 10),
            ),
            (
                "6.1.12-17.42.amzn2023.aarch64",
                "6.1.12",
                "17.42",
                Dist::Amzn2023,
                Some(Arch::Aarch64),
                (6, 1),
            ),
            (
                "6.12.40-63.114.amzn2023.x86_64",
                "6.12.40",
                "63.114",
                Dist::Amzn2023,
                Some(Arch::X86_64),
                (6, 12),
            ),
            (
                "4.14.165-131.185.amzn2",
                "4.14.165",
                "131.185",
                Dist::Amzn2,
                None,
                (4, 14),
            ),
        ];
        for (input, version, release, dist, arch, series) in cases {
            let kr = k(input);
            assert_eq!(kr.version(), version, "{input}");
            assert_eq!(kr.release(), release, "{input}");
            assert_eq!(kr.dist(), dist, "{input}");
            assert_eq!(kr.arch(), arch, "{input}");
            assert_eq!(kr.series(), series, "{input}");
            assert_eq!(kr.to_string(), input, "display round-trips");
        }
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let kr = k(" 5.10.102-99.473.amzn2.x86_64\n");
        assert_eq!(kr.to_string(), "5.10.102-99.473.amzn2.x86_64");
        assert_eq!(kr.arch(), Some(Arch::X86_64));
    }

    #[test]
    fn release_with_a_single_segment_parses() {
        let kr = k("5.10.0-1.amzn2.x86_64");
        assert_eq!(kr.release(), "1");
    }

    #[test]
    fn rejects_foreign_and_malformed_kernels_naming_the_input() {
        let err = "5.15.0-1034-aws".parse::<KernelRelease>().unwrap_err();
        assert!(matches!(err, KernelError::UnknownDist { .. }), "{err:?}");
        assert!(err.to_string().contains("5.15.0-1034-aws"), "{err}");

        for bad in [
            "",
            "4.14.165",
            "abc-131.185.amzn2",
            "4-131.185.amzn2.x86_64",
            "4..165-131.185.amzn2",
            "4.14.165-amzn2.x86_64",
            "4.14.165-.amzn2",
            "4.14.165-131..185.amzn2",
        ] {
            let err = bad.parse::<KernelRelease>().unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            "4.18.0-372.el8.x86_64".parse::<KernelRelease>(),
            Err(KernelError::UnknownDist { .. })
        ));
        assert!(matches!(
            "4.14.355-1.amzn1.x86_64".parse::<KernelRelease>(),
            Err(KernelError::UnknownDist { .. })
        ));
    }

    #[test]
    fn rejects_unknown_arch() {
        let err = "5.10.102-99.473.amzn2.i686"
            .parse::<KernelRelease>()
            .unwrap_err();
        assert_eq!(
            err,
            KernelError::UnknownArch {
                input: "5.10.102-99.473.amzn2.i686".into(),
                arch: "i686".into()
            }
        );
        assert!(err.to_string().contains("i686"));
        assert!("5.10.102-99.473.amzn2.x86_64.extra"
            .parse::<KernelRelease>()
            .is_err());
    }

    #[test]
    fn orders_by_rpm_rules_not_strings() {
        assert!(k("4.14.9-1.1.amzn2.x86_64") < k("4.14.165-131.185.amzn2.x86_64"));
        assert!(k("4.14.165-131.19.amzn2.x86_64") < k("4.14.165-131.185.amzn2.x86_64"));
        assert!(k("5.10.102-99.473.amzn2") > k("5.10.99-100.1.amzn2"));
        assert!(k("6.12.40-63.114.amzn2023.x86_64") > k("6.1.12-17.42.amzn2023.x86_64"));
        let mut kernels = [
            k("4.14.200-1.1.amzn2"),
            k("4.14.9-1.1.amzn2"),
            k("4.14.165-131.185.amzn2"),
        ];
        kernels.sort();
        let sorted: Vec<String> = kernels.iter().map(|k| k.version().to_owned()).collect();
        assert_eq!(sorted, ["4.14.9", "4.14.165", "4.14.200"]);
    }

    #[test]
    fn ord_agrees_with_eq() {
        let a = k("5.10.102-99.473.amzn2.x86_64");
        let b = k("5.10.102-99.473.amzn2.aarch64");
        let c = k("5.10.102-99.473.amzn2");
        assert_eq!(a.cmp_rpm(&b), Ordering::Equal);
        assert_ne!(a.cmp(&b), Ordering::Equal);
        assert_ne!(a.cmp(&c), Ordering::Equal);
        assert_eq!(a.cmp(&a.clone()), Ordering::Equal);
    }

    #[test]
    fn same_build_ignores_missing_arch_only() {
        let a = k("5.10.102-99.473.amzn2.x86_64");
        assert!(a.same_build(&k("5.10.102-99.473.amzn2")));
        assert!(a.same_build(&a.clone()));
        assert!(!a.same_build(&k("5.10.102-99.473.amzn2.aarch64")));
        assert!(!a.same_build(&k("5.10.102-99.474.amzn2.x86_64")));
    }

    #[test]
    fn new_validates_parts() {
        let kr =
            KernelRelease::new("6.1.12", "17.42", Dist::Amzn2023, Some(Arch::Aarch64)).unwrap();
        assert_eq!(kr.to_string(), "6.1.12-17.42.amzn2023.aarch64");
        assert!(KernelRelease::new("6", "17.42", Dist::Amzn2023, None).is_err());
        assert!(KernelRelease::new("6.1.12", "", Dist::Amzn2023, None).is_err());
    }

    #[test]
    fn serde_as_string() {
        let kr = k("6.1.12-17.42.amzn2023.aarch64");
        assert_eq!(
            serde_json::to_string(&kr).unwrap(),
            r#""6.1.12-17.42.amzn2023.aarch64""#
        );
        let back: KernelRelease =
            serde_json::from_str(r#""6.1.12-17.42.amzn2023.aarch64""#).unwrap();
        assert_eq!(back, kr);
        let err = serde_json::from_str::<KernelRelease>(r#""5.15.0-1034-aws""#).unwrap_err();
        assert!(err.to_string().contains("5.15.0-1034-aws"), "{err}");
        assert_eq!(
            serde_json::to_string(&Platform::AmazonLinux2023).unwrap(),
            r#""Amazon Linux 2023""#
        );
        let p: Platform = serde_json::from_str(r#""Amazon Linux 2""#).unwrap();
        assert_eq!(p, Platform::AmazonLinux2);
        let s = LivePatchSupport::BelowMinimum {
            minimum: k("4.14.165-131.185.amzn2.x86_64"),
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"kind":"below_minimum","minimum":"4.14.165-131.185.amzn2.x86_64"}"#
        );
        assert_eq!(
            serde_json::to_string(&Arch::Aarch64).unwrap(),
            r#""aarch64""#
        );
        assert_eq!(serde_json::to_string(&Dist::Amzn2).unwrap(), r#""amzn2""#);
    }

    #[test]
    fn platform_from_ssm() {
        assert_eq!(
            Platform::from_ssm("Amazon Linux", "2"),
            Platform::AmazonLinux2
        );
        assert_eq!(
            Platform::from_ssm("Amazon Linux", "2023"),
            Platform::AmazonLinux2023
        );
        assert_eq!(
            Platform::from_ssm("Amazon Linux", "2023.6.20241010"),
            Platform::AmazonLinux2023
        );
        assert_eq!(
            Platform::from_ssm("Amazon Linux 2", "2"),
            Platform::AmazonLinux2
        );
        assert_eq!(
            Platform::from_ssm("Amazon Linux 2", ""),
            Platform::AmazonLinux2
        );
        assert_eq!(
            Platform::from_ssm("Amazon Linux 2023", "2023.6.20241010"),
            Platform::AmazonLinux2023
        );
        assert_eq!(
            Platform::from_ssm(" amazon linux ", " 2 "),
            Platform::AmazonLinux2
        );
        assert_eq!(
            Platform::from_ssm("Amazon Linux AMI", "2018.03"),
            Platform::Other("Amazon Linux AMI 2018.03".into())
        );
        assert_eq!(
            Platform::from_ssm("Ubuntu", "22.04"),
            Platform::Other("Ubuntu 22.04".into())
        );
        assert_eq!(
            Platform::from_ssm("Amazon Linux 2", "2023"),
            Platform::Other("Amazon Linux 2 2023".into())
        );
        assert_eq!(Platform::from_ssm("", ""), Platform::Other(String::new()));
        assert_eq!(
            Platform::from_ssm("Amazon Linux", ""),
            Platform::Other("Amazon Linux".into())
        );
    }

    #[test]
    fn platform_display_round_trips_through_from_ssm() {
        for p in [Platform::AmazonLinux2, Platform::AmazonLinux2023] {
            assert_eq!(Platform::from_ssm(&p.to_string(), ""), p);
        }
        assert_eq!(Platform::AmazonLinux2.to_string(), "Amazon Linux 2");
        assert_eq!(
            Platform::Other("Ubuntu 22.04".into()).to_string(),
            "Ubuntu 22.04"
        );
    }

    fn support(p: &Platform, kernel: &str) -> LivePatchSupport {
        livepatch_support(p, &k(kernel))
    }

    #[test]
    fn al2_support_table() {
        let al2 = Platform::AmazonLinux2;
        assert_eq!(
            support(&al2, "4.14.165-131.185.amzn2.x86_64"),
            LivePatchSupport::Supported
        );
        assert_eq!(
            support(&al2, "4.14.355-275.570.amzn2.x86_64"),
            LivePatchSupport::Supported
        );
        assert_eq!(
            support(&al2, "5.10.102-99.473.amzn2.x86_64"),
            LivePatchSupport::Supported
        );
        assert_eq!(
            support(&al2, "5.10.102-99.473.amzn2.aarch64"),
            LivePatchSupport::Supported
        );
        assert_eq!(
            support(&al2, "5.10.102-99.473.amzn2"),
            LivePatchSupport::Supported
        );
        for unsupported in [
            "5.15.73-45.135.amzn2.x86_64",
            "5.15.73-45.135.amzn2.aarch64",
            "4.14.165-131.185.amzn2.aarch64",
            "4.14.165-131.185.amzn2",
            "4.19.1-1.1.amzn2.x86_64",
            "6.1.12-17.42.amzn2.x86_64",
        ] {
            let s = support(&al2, unsupported);
            match &s {
                LivePatchSupport::NoLivePatches { reason } => {
                    assert!(reason.contains(unsupported), "{reason}")
                }
                other => panic!("{unsupported}: {other:?}"),
            }
        }
    }

    #[test]
    fn al2_below_minimum_names_the_minimum() {
        for old in [
            "4.14.165-131.184.amzn2.x86_64",
            "4.14.154-128.181.amzn2.x86_64",
            "4.14.9-1.1.amzn2.x86_64",
        ] {
            assert_eq!(
                support(&Platform::AmazonLinux2, old),
                LivePatchSupport::BelowMinimum {
                    minimum: k("4.14.165-131.185.amzn2.x86_64")
                },
                "{old}"
            );
        }
    }

    #[test]
    fn al2023_support_table() {
        let al = Platform::AmazonLinux2023;
        for ok in [
            "6.1.12-17.42.amzn2023.x86_64",
            "6.1.12-17.42.amzn2023.aarch64",
            "6.12.40-63.114.amzn2023.x86_64",
            "6.12.40-63.114.amzn2023.aarch64",
            "6.1.12-17.42.amzn2023",
        ] {
            assert!(support(&al, ok).is_supported(), "{ok}");
        }
        assert!(matches!(
            support(&al, "6.6.1-1.1.amzn2023.x86_64"),
            LivePatchSupport::NoLivePatches { .. }
        ));
        assert!(matches!(
            support(&al, "6.18.1-1.1.amzn2023.x86_64"),
            LivePatchSupport::NoLivePatches { .. }
        ));
    }

    #[test]
    fn dist_mismatch_and_other_platforms_get_no_live_patches() {
        let s = support(&Platform::AmazonLinux2023, "5.10.102-99.473.amzn2.x86_64");
        match s {
            LivePatchSupport::NoLivePatches { reason } => {
                assert!(
                    reason.contains("amzn2") && reason.contains("Amazon Linux 2023"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        let s = support(&Platform::AmazonLinux2, "6.1.12-17.42.amzn2023.x86_64");
        assert!(!s.is_supported());
        let s = support(
            &Platform::Other("Ubuntu 22.04".into()),
            "6.1.12-17.42.amzn2023.x86_64",
        );
        match s {
            LivePatchSupport::NoLivePatches { reason } => {
                assert!(reason.contains("Ubuntu 22.04"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn os_support_dates() {
        assert_eq!(
            os_end_of_support(&Platform::AmazonLinux2),
            Some(Date::constant(2026, 6, 30))
        );
        assert_eq!(
            os_end_of_support(&Platform::AmazonLinux2023),
            Some(Date::constant(2029, 6, 30))
        );
        assert_eq!(os_end_of_support(&Platform::Other("Ubuntu".into())), None);
    }

    #[test]
    fn dist_and_arch_tags() {
        assert_eq!(Dist::from_tag("amzn2"), Some(Dist::Amzn2));
        assert_eq!(Dist::from_tag("amzn2023"), Some(Dist::Amzn2023));
        assert_eq!(Dist::from_tag("AMZN2"), None);
        assert_eq!(Arch::from_tag("aarch64"), Some(Arch::Aarch64));
        assert_eq!(Arch::from_tag("arm64"), None);
        assert_eq!(Arch::X86_64.to_string(), "x86_64");
        assert_eq!(Dist::Amzn2023.to_string(), "amzn2023");
    }
}
