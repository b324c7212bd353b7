//! Live patch packages (`kernel-livepatch-*` RPMs) and what `kpatch list` says is in effect.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::excerpt;
use crate::kernel::{Arch, Dist, KernelRelease};
use crate::rpmver::rpmvercmp;

const PREFIX: &str = "kernel-livepatch-";

/// Why a live patch package name was rejected; always names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LivePatchError {
    /// The name does not start with `kernel-livepatch-` (another package).
    #[error("{input:?} is not a kernel live patch package (no {PREFIX:?} prefix)")]
    NotALivePatch {
        /// The rejected string.
        input: String,
    },
    /// A live patch name that does not have the documented shape.
    #[error("live patch package {input:?} is malformed: {why}")]
    Malformed {
        /// The rejected string.
        input: String,
        /// What is wrong with it.
        why: String,
    },
}

/// One `kernel-livepatch` RPM: the cumulative live patch for exactly one kernel build.
///
/// Named `kernel-livepatch-<kernel version>-<kernel release>-<version>-<release>.<dist>.<arch>`,
/// e.g. `kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64`. Ordered by the kernel it patches,
/// then epoch, version and release by RPM rules, so the newest patch for a kernel sorts last.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LivePatchPackage {
    /// Carries the package's dist and arch (always `Some`).
    kernel: KernelRelease,
    arch: Arch,
    epoch: u32,
    version: String,
    release: String,
}

impl LivePatchPackage {
    /// Builds a package from RPM header fields as inventory (`AWS:Application`) reports them:
    /// name `kernel-livepatch-5.10.102-99.473`, epoch, version `1.0`, release `4.amzn2`, arch.
    pub fn from_parts(
        name: &str,
        epoch: u32,
        version: &str,
        release: &str,
        arch: &str,
    ) -> Result<Self, LivePatchError> {
        let whole = format!("{name}.{arch}:{epoch}:{version}-{release}");
        if !name.starts_with(PREFIX) {
            return Err(LivePatchError::NotALivePatch { input: whole });
        }
        Self::build(&whole, name, epoch, version, release, arch)
    }

    /// Parses either the RPM name (`kernel-livepatch-4.14.165-133.209-1.0-4.amzn2.x86_64`,
    /// optionally with `.rpm` or an `epoch:` before the version) or Patch Manager's `Title`
    /// (`kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-4.amzn2`).
    pub fn parse(input: &str) -> Result<Self, LivePatchError> {
        let s = input.trim();
        if !s.starts_with(PREFIX) {
            return Err(LivePatchError::NotALivePatch {
                input: input.to_owned(),
            });
        }
        let bad = |why: &str| malformed(input, why);
        match s.split(':').collect::<Vec<_>>()[..] {
            // Title: name.arch:epoch:version-release
            [name_arch, epoch, ver_rel] => {
                let (name, arch) = name_arch
                    .rsplit_once('.')
                    .ok_or_else(|| bad("no '.<arch>' after the name in the title"))?;
                let (version, release) = ver_rel
                    .rsplit_once('-')
                    .ok_or_else(|| bad("no '-' between version and release in the title"))?;
                let epoch = parse_epoch(epoch).ok_or_else(|| bad("epoch is not a number"))?;
                Self::build(input, name, epoch, version, release, arch)
            }
            // RPM name, possibly name-epoch:version-release.arch
            [_] | [_, _] => {
                let s = s.strip_suffix(".rpm").unwrap_or(s);
                let (rest, arch) = s
                    .rsplit_once('.')
                    .ok_or_else(|| bad("no '.<arch>' suffix"))?;
                let (rest, release) = rest
                    .rsplit_once('-')
                    .ok_or_else(|| bad("no '-<release>.<dist>'"))?;
                let (name, epoch_version) = rest
                    .rsplit_once('-')
                    .ok_or_else(|| bad("no '-<version>'"))?;
                let (epoch, version) = match epoch_version.split_once(':') {
                    Some((e, v)) => (
                        parse_epoch(e).ok_or_else(|| bad("epoch is not a number"))?,
                        v,
                    ),
                    None => (0, epoch_version),
                };
                Self::build(input, name, epoch, version, release, arch)
            }
            _ => Err(bad("too many ':'")),
        }
    }

    fn build(
        input: &str,
        name: &str,
        epoch: u32,
        version: &str,
        release: &str,
        arch: &str,
    ) -> Result<Self, LivePatchError> {
        let bad = |why: &str| malformed(input, why);
        // The caller checked the prefix of the whole input; a split that loses it is a bad shape.
        let kernel_part = name.strip_prefix(PREFIX).ok_or_else(|| {
            bad("the name must be kernel-livepatch-<kernel version>-<kernel release>")
        })?;
        let (kernel_version, kernel_release) = kernel_part.split_once('-').ok_or_else(|| {
            bad("the name must be kernel-livepatch-<kernel version>-<kernel release>")
        })?;
        let arch =
            Arch::from_tag(arch).ok_or_else(|| bad(&format!("unknown architecture {arch:?}")))?;
        // The dist tag ends the package release: `4.amzn2`.
        let (release, dist) = release
            .rsplit_once('.')
            .ok_or_else(|| bad("the release must end in .amzn2 or .amzn2023"))?;
        let dist = Dist::from_tag(dist).ok_or_else(|| bad(&format!("unknown dist {dist:?}")))?;
        if !is_rpm_field(version) || !is_rpm_field(release) {
            return Err(bad(
                "package version and release must be non-empty alphanumerics and dots",
            ));
        }
        let kernel = KernelRelease::new(kernel_version, kernel_release, dist, Some(arch))
            .map_err(|e| bad(&format!("it names no valid kernel ({e})")))?;
        Ok(LivePatchPackage {
            kernel,
            arch,
            epoch,
            version: version.to_owned(),
            release: release.to_owned(),
        })
    }

    /// The kernel build this package patches (dist and arch from the package).
    pub fn kernel(&self) -> &KernelRelease {
        &self.kernel
    }

    /// The package architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The package's own dist tag.
    pub fn dist(&self) -> Dist {
        self.kernel.dist()
    }

    /// RPM epoch (0 for every live patch seen so far).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Package version, e.g. `1.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Package release without the dist tag, e.g. `4`.
    pub fn release(&self) -> &str {
        &self.release
    }

    /// The RPM name, e.g. `kernel-livepatch-5.10.102-99.473`.
    pub fn name(&self) -> String {
        format!(
            "{PREFIX}{}-{}",
            self.kernel.version(),
            self.kernel.release()
        )
    }

    /// Patch Manager's `KBId`: `name.arch`.
    pub fn kb_id(&self) -> String {
        format!("{}.{}", self.name(), self.arch)
    }

    /// Patch Manager's `Title`: `name.arch:epoch:version-release`.
    pub fn title(&self) -> String {
        format!(
            "{}:{}:{}-{}.{}",
            self.kb_id(),
            self.epoch,
            self.version,
            self.release,
            self.dist()
        )
    }

    /// The empty package that enabling live patching installs (version 1.0, release 0):
    /// it fixes nothing.
    pub fn is_placeholder(&self) -> bool {
        self.version == "1.0" && self.release == "0"
    }

    /// Whether this package applies to `kernel`: same version, release and dist, and the
    /// same arch when the kernel's arch is known.
    pub fn patches(&self, kernel: &KernelRelease) -> bool {
        self.kernel.same_build(kernel)
    }
}

fn malformed(input: &str, why: &str) -> LivePatchError {
    LivePatchError::Malformed {
        input: input.to_owned(),
        why: why.to_owned(),
    }
}

fn parse_epoch(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_rpm_field(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'~' | b'^'))
}

impl Ord for LivePatchPackage {
    fn cmp(&self, other: &Self) -> Ordering {
        self.kernel
            .cmp(&other.kernel)
            .then_with(|| self.epoch.cmp(&other.epoch))
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| rpmvercmp(&self.release, &other.release))
            .then_with(|| self.version.cmp(&other.version))
            .then_with(|| self.release.cmp(&other.release))
    }
}

impl PartialOrd for LivePatchPackage {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The RPM name; the epoch appears (`-1:1.0-...`) only when it is not 0.
impl fmt::Display for LivePatchPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", self.name())?;
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        write!(
            f,
            "{}-{}.{}.{}",
            self.version,
            self.release,
            self.dist(),
            self.arch
        )
    }
}

impl FromStr for LivePatchPackage {
    type Err = LivePatchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for LivePatchPackage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LivePatchPackage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why `kpatch list` output was rejected; names the offending output or line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KpatchListError {
    /// No `Loaded patch modules:` header: not `kpatch list` output (or kpatch is missing).
    #[error("not `kpatch list` output (no \"Loaded patch modules:\" line): {output:?}")]
    NotKpatchOutput {
        /// The start of the rejected output.
        output: String,
    },
    /// A line inside a block that does not have the block's shape.
    #[error("unexpected line {line:?} in the {block:?} block of `kpatch list` output")]
    BadLine {
        /// The block header, without the colon.
        block: &'static str,
        /// The rejected line.
        line: String,
    },
}

/// The state `kpatch list` shows in brackets after a loaded module.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleState {
    /// `[enabled]`: the patch is in effect.
    Enabled,
    /// `[enabling...]`: transition under way (or stalled).
    Enabling,
    /// `[disabled]`.
    Disabled,
    /// `[disabling...]`.
    Disabling,
    /// Anything else, verbatim.
    Other(String),
}

/// A line of the `Loaded patch modules:` block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoadedModule {
    /// Kernel module name, e.g. `livepatch_CVE_2019_20096`.
    pub name: String,
    /// The bracketed state.
    pub state: ModuleState,
}

/// A line of the `Installed patch modules:` block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstalledModule {
    /// Kernel module name.
    pub name: String,
    /// The kernel it was installed for, verbatim (`5.10.102-99.473.amzn2.x86_64`).
    pub kernel: String,
}

impl InstalledModule {
    /// Whether the module was installed for `kernel` (same build; see [`KernelRelease::same_build`]).
    pub fn is_for(&self, kernel: &KernelRelease) -> bool {
        match self.kernel.parse::<KernelRelease>() {
            Ok(k) => k.same_build(kernel),
            Err(_) => self.kernel == kernel.to_string(),
        }
    }
}

/// Parsed `kpatch list` output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpatchList {
    loaded: Vec<LoadedModule>,
    installed: Vec<InstalledModule>,
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Preamble,
    Loaded,
    Installed,
    Ignored,
}

const LOADED: &str = "Loaded patch modules";
const INSTALLED: &str = "Installed patch modules";

impl KpatchList {
    /// Parses the two blocks of `kpatch list`. Blank lines, trailing whitespace and CRLF are
    /// tolerated; so are lines before the first block (other output of the same command) and
    /// other blocks such as `Stalled processes:`, which are skipped.
    pub fn parse(output: &str) -> Result<Self, KpatchListError> {
        let mut list = KpatchList::default();
        let mut block = Block::Preamble;
        let mut saw_loaded = false;
        for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
            // Module lines end in `]` or `)`, so a trailing colon marks a block header.
            if let Some(header) = line.strip_suffix(':') {
                block = match header {
                    LOADED => {
                        saw_loaded = true;
                        Block::Loaded
                    }
                    INSTALLED => Block::Installed,
                    _ if block == Block::Preamble => Block::Preamble,
                    _ => Block::Ignored,
                };
                continue;
            }
            match block {
                Block::Loaded => list.loaded.push(parse_loaded(line)?),
                Block::Installed => list.installed.push(parse_installed(line)?),
                Block::Preamble | Block::Ignored => {}
            }
        }
        if !saw_loaded {
            return Err(KpatchListError::NotKpatchOutput {
                output: excerpt(output),
            });
        }
        Ok(list)
    }

    /// The modules in the kernel now, in output order.
    pub fn loaded(&self) -> &[LoadedModule] {
        &self.loaded
    }

    /// The modules installed on disk (for any kernel), in output order.
    pub fn installed(&self) -> &[InstalledModule] {
        &self.installed
    }

    /// Whether a module of that name is loaded and `[enabled]`.
    pub fn is_in_effect(&self, name: &str) -> bool {
        self.loaded
            .iter()
            .any(|m| m.name == name && m.state == ModuleState::Enabled)
    }

    /// Modules installed for the running kernel whose fix is not in effect: not loaded at
    /// all (e.g. `kpatch.service` disabled or failed after a reboot), or loaded but not
    /// `[enabled]` (disabled, or a transition that has not completed).
    pub fn not_in_effect(&self, running: &KernelRelease) -> Vec<&InstalledModule> {
        self.installed
            .iter()
            .filter(|m| m.is_for(running) && !self.is_in_effect(&m.name))
            .collect()
    }
}

fn parse_loaded(line: &str) -> Result<LoadedModule, KpatchListError> {
    let bad = || KpatchListError::BadLine {
        block: LOADED,
        line: line.to_owned(),
    };
    let (name, state) = split_module_line(line, '[', ']').ok_or_else(bad)?;
    let state = match state {
        "enabled" => ModuleState::Enabled,
        "enabling..." => ModuleState::Enabling,
        "disabled" => ModuleState::Disabled,
        "disabling..." => ModuleState::Disabling,
        other => ModuleState::Other(other.to_owned()),
    };
    Ok(LoadedModule {
        name: name.to_owned(),
        state,
    })
}

fn parse_installed(line: &str) -> Result<InstalledModule, KpatchListError> {
    let (name, kernel) =
        split_module_line(line, '(', ')').ok_or_else(|| KpatchListError::BadLine {
            block: INSTALLED,
            line: line.to_owned(),
        })?;
    Ok(InstalledModule {
        name: name.to_owned(),
        kernel: kernel.to_owned(),
    })
}

/// `name <open>inner<close>` with a single-word name and a non-empty inner part.
fn split_module_line(line: &str, open: char, close: char) -> Option<(&str, &str)> {
    let (name, rest) = line.split_once(char::is_whitespace)?;
    let inner = rest.trim().strip_prefix(open)?.strip_suffix(close)?.trim();
    (!name.is_empty() && !inner.is_empty()).then_some((name, inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(s: &str) -> LivePatchPackage {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn kernel(s: &str) -> KernelRelease {
        s.parse().unwrap()
    }

    #[test]
    fn parses_rpm_names() {
        let p = pkg("kernel-livepatch-4.14.165-133.209-1.0-4.amzn2.x86_64");
        assert_eq!(p.kernel(), &kernel("4.14.165-133.209.amzn2.x86_64"));
        assert_eq!((p.version(), p.release(), p.epoch()), ("1.0", "4", 0));
        assert_eq!((p.dist(), p.arch()), (Dist::Amzn2, Arch::X86_64));
        assert_eq!(p.name(), "kernel-livepatch-4.14.165-133.209");

        let p = pkg("kernel-livepatch-6.1.12-17.42-1.0-4.amzn2023.x86_64");
        assert_eq!(p.kernel().to_string(), "6.1.12-17.42.amzn2023.x86_64");
        assert_eq!(p.dist(), Dist::Amzn2023);

        let p = pkg("kernel-livepatch-5.10.102-99.473-1.0-0.amzn2.aarch64");
        assert_eq!(p.kernel().to_string(), "5.10.102-99.473.amzn2.aarch64");
        assert!(p.is_placeholder());
    }

    #[test]
    fn display_round_trips_rpm_names() {
        for name in [
            "kernel-livepatch-4.14.165-133.209-1.0-4.amzn2.x86_64",
            "kernel-livepatch-6.1.12-17.42-1.0-4.amzn2023.x86_64",
            "kernel-livepatch-5.10.102-99.473-1.0-0.amzn2.aarch64",
            "kernel-livepatch-5.10.102-99.473-1:1.0-4.amzn2.x86_64",
        ] {
            assert_eq!(pkg(name).to_string(), name);
        }
        let p = pkg("kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64.rpm");
        assert_eq!(
            p.to_string(),
            "kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64"
        );
        let p = pkg("kernel-livepatch-5.10.102-99.473-0:1.0-4.amzn2.x86_64");
        assert_eq!(p.epoch(), 0);
        assert_eq!(
            p.to_string(),
            "kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64"
        );
    }

    #[test]
    fn parses_patch_manager_title() {
        let p = pkg("kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-4.amzn2");
        assert_eq!(
            p,
            pkg("kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64")
        );
        assert_eq!(
            p.title(),
            "kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-4.amzn2"
        );
        assert_eq!(p.kb_id(), "kernel-livepatch-5.10.102-99.473.x86_64");

        let p = pkg("kernel-livepatch-6.12.40-63.114.aarch64:0:1.0-2.amzn2023");
        assert_eq!(p.kernel().to_string(), "6.12.40-63.114.amzn2023.aarch64");
        assert_eq!(
            p.title(),
            "kernel-livepatch-6.12.40-63.114.aarch64:0:1.0-2.amzn2023"
        );

        let p = pkg("kernel-livepatch-5.10.102-99.473.x86_64:3:1.0-4.amzn2");
        assert_eq!(p.epoch(), 3);
    }

    #[test]
    fn from_inventory_parts() {
        let p = LivePatchPackage::from_parts(
            "kernel-livepatch-5.10.102-99.473",
            0,
            "1.0",
            "4.amzn2",
            "x86_64",
        )
        .unwrap();
        assert_eq!(
            p.to_string(),
            "kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64"
        );
        let err = LivePatchPackage::from_parts("kernel", 0, "5.10.102", "99.473.amzn2", "x86_64")
            .unwrap_err();
        assert!(
            matches!(err, LivePatchError::NotALivePatch { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_bad_names_naming_the_input() {
        let err = pkg_err("kernel-5.10.102-99.473.amzn2.x86_64");
        assert!(matches!(err, LivePatchError::NotALivePatch { .. }));
        for bad in [
            "kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.i686",
            "kernel-livepatch-5.10.102-99.473-1.0-4.el8.x86_64",
            "kernel-livepatch-5.10.102-99.473-1.0-4.x86_64",
            "kernel-livepatch-5.10.102-1.0-4.amzn2.x86_64",
            "kernel-livepatch-5.10.102-99.473-1.0-.amzn2.x86_64",
            "kernel-livepatch-5.10.102-99.473--4.amzn2.x86_64",
            "kernel-livepatch-5.10.102-99.473",
            "kernel-livepatch-",
            "kernel-livepatch-5.10.102-99.473.x86_64:x:1.0-4.amzn2",
            "kernel-livepatch-5.10.102-99.473.x86_64:0:1.0",
            "kernel-livepatch-5.10.102-99.473:0:1.0-4.amzn2",
            "kernel-livepatch-5.10.102-99.473.x86_64:0:0:1.0-4.amzn2",
            "kernel-livepatch-5.10.102-99.473-x:1.0-4.amzn2.x86_64",
        ] {
            let err = pkg_err(bad);
            assert!(
                matches!(err, LivePatchError::Malformed { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    fn pkg_err(s: &str) -> LivePatchError {
        s.parse::<LivePatchPackage>().unwrap_err()
    }

    #[test]
    fn placeholder_is_exactly_1_0_release_0() {
        assert!(pkg("kernel-livepatch-6.1.12-17.42-1.0-0.amzn2023.x86_64").is_placeholder());
        assert!(!pkg("kernel-livepatch-6.1.12-17.42-1.0-1.amzn2023.x86_64").is_placeholder());
        assert!(!pkg("kernel-livepatch-6.1.12-17.42-1.1-0.amzn2023.x86_64").is_placeholder());
    }

    #[test]
    fn patches_only_its_own_kernel_build() {
        let p = pkg("kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64");
        assert!(p.patches(&kernel("5.10.102-99.473.amzn2.x86_64")));
        assert!(p.patches(&kernel("5.10.102-99.473.amzn2")));
        assert!(!p.patches(&kernel("5.10.102-99.473.amzn2.aarch64")));
        assert!(!p.patches(&kernel("5.10.102-99.474.amzn2.x86_64")));
        assert!(!p.patches(&kernel("5.10.103-99.473.amzn2.x86_64")));
        let q = pkg("kernel-livepatch-6.1.12-17.42-1.0-4.amzn2023.x86_64");
        assert!(!q.patches(&kernel("6.1.12-17.42.amzn2.x86_64")));
    }

    #[test]
    fn newest_patch_for_a_kernel_sorts_last() {
        let mut v = [
            pkg("kernel-livepatch-5.10.102-99.473-1.0-10.amzn2.x86_64"),
            pkg("kernel-livepatch-5.10.102-99.473-1.0-9.amzn2.x86_64"),
            pkg("kernel-livepatch-5.10.102-99.473-1.0-0.amzn2.x86_64"),
        ];
        v.sort();
        let rels: Vec<&str> = v.iter().map(|p| p.release()).collect();
        assert_eq!(rels, ["0", "9", "10"]);
        assert!(
            pkg("kernel-livepatch-4.14.9-1.1-1.0-9.amzn2.x86_64")
                < pkg("kernel-livepatch-4.14.165-131.185-1.0-0.amzn2.x86_64")
        );
    }

    #[test]
    fn serde_as_rpm_name() {
        let p = pkg("kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-4.amzn2");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#""kernel-livepatch-5.10.102-99.473-1.0-4.amzn2.x86_64""#
        );
        assert_eq!(serde_json::from_str::<LivePatchPackage>(&json).unwrap(), p);
        assert!(serde_json::from_str::<LivePatchPackage>(r#""kernel-5.10""#).is_err());
    }

    const RUNNING: &str = "5.10.102-99.473.amzn2.x86_64";

    #[test]
    fn kpatch_list_all_loaded() {
        let out = "Loaded patch modules:\n\
                   livepatch_CVE_2019_20096 [enabled]\n\
                   livepatch_CVE_2020_8648 [enabled]\n\
                   \n\
                   Installed patch modules:\n\
                   livepatch_CVE_2019_20096 (5.10.102-99.473.amzn2.x86_64)\n\
                   livepatch_CVE_2020_8648 (5.10.102-99.473.amzn2.x86_64)\n";
        let list = KpatchList::parse(out).unwrap();
        assert_eq!(
            list.loaded(),
            [
                LoadedModule {
                    name: "livepatch_CVE_2019_20096".into(),
                    state: ModuleState::Enabled
                },
                LoadedModule {
                    name: "livepatch_CVE_2020_8648".into(),
                    state: ModuleState::Enabled
                },
            ]
        );
        assert_eq!(list.installed().len(), 2);
        assert_eq!(list.installed()[1].kernel, RUNNING);
        assert!(list.not_in_effect(&kernel(RUNNING)).is_empty());
    }

    #[test]
    fn kpatch_list_installed_but_not_loaded_after_reboot() {
        // kpatch.service failed after a reboot: nothing loaded, trailing spaces and CRLF.
        let out = "Loaded patch modules:   \r\n\r\nInstalled patch modules:  \r\nlivepatch_CVE_2019_20096 (5.10.102-99.473.amzn2.x86_64)   \r\nlivepatch_old (5.10.93-89.449.amzn2.x86_64)\r\n";
        let list = KpatchList::parse(out).unwrap();
        assert!(list.loaded().is_empty());
        let missing: Vec<&str> = list
            .not_in_effect(&kernel(RUNNING))
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(missing, ["livepatch_CVE_2019_20096"]);
        // The module for the old kernel is irrelevant to a different running kernel.
        let other = list.not_in_effect(&kernel("5.10.93-89.449.amzn2.x86_64"));
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].name, "livepatch_old");
    }

    #[test]
    fn kpatch_list_disabled_and_transitioning_are_not_in_effect() {
        let out = "Loaded patch modules:\n\
                   livepatch_a [disabled]\n\
                   livepatch_b [enabling...]\n\
                   livepatch_c [enabled]\n\
                   livepatch_d [weird]\n\
                   \n\
                   Stalled processes:\n\
                   1234 kworker/0:1\n\
                   \n\
                   Installed patch modules:\n\
                   livepatch_a (5.10.102-99.473.amzn2.x86_64)\n\
                   livepatch_b (5.10.102-99.473.amzn2.x86_64)\n\
                   livepatch_c (5.10.102-99.473.amzn2.x86_64)\n\
                   livepatch_d (5.10.102-99.473.amzn2.x86_64)\n";
        let list = KpatchList::parse(out).unwrap();
        assert_eq!(list.loaded().len(), 4);
        assert_eq!(list.loaded()[1].state, ModuleState::Enabling);
        assert_eq!(list.loaded()[3].state, ModuleState::Other("weird".into()));
        let names: Vec<&str> = list
            .not_in_effect(&kernel(RUNNING))
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["livepatch_a", "livepatch_b", "livepatch_d"]);
        assert!(list.is_in_effect("livepatch_c"));
        assert!(!list.is_in_effect("livepatch_a"));
    }

    #[test]
    fn kpatch_list_empty_blocks_and_preamble() {
        let list =
            KpatchList::parse("Loaded patch modules:\n\nInstalled patch modules:\n").unwrap();
        assert_eq!(list, KpatchList::default());
        let list = KpatchList::parse("Loaded patch modules:\n").unwrap();
        assert!(list.installed().is_empty());
        let out = "some other output: before\nLoaded patch modules:\nlivepatch_x [enabled]\n";
        assert_eq!(KpatchList::parse(out).unwrap().loaded().len(), 1);
    }

    #[test]
    fn kpatch_list_matches_running_kernel_without_arch() {
        let out = "Loaded patch modules:\nInstalled patch modules:\nlivepatch_a (5.10.102-99.473.amzn2.x86_64)\n";
        let list = KpatchList::parse(out).unwrap();
        assert_eq!(
            list.not_in_effect(&kernel("5.10.102-99.473.amzn2")).len(),
            1
        );
        assert!(list
            .not_in_effect(&kernel("5.10.102-99.473.amzn2.aarch64"))
            .is_empty());
    }

    #[test]
    fn kpatch_list_errors_name_the_input() {
        let err = KpatchList::parse("bash: kpatch: command not found\n").unwrap_err();
        assert!(matches!(err, KpatchListError::NotKpatchOutput { .. }));
        assert!(
            err.to_string().contains("kpatch: command not found"),
            "{err}"
        );

        let err = KpatchList::parse("Loaded patch modules:\nlivepatch_a enabled\n").unwrap_err();
        assert_eq!(
            err,
            KpatchListError::BadLine {
                block: "Loaded patch modules",
                line: "livepatch_a enabled".into()
            }
        );
        assert!(err.to_string().contains("livepatch_a enabled"));

        let err =
            KpatchList::parse("Loaded patch modules:\nInstalled patch modules:\nlivepatch_a ()\n")
                .unwrap_err();
        assert!(
            matches!(
                err,
                KpatchListError::BadLine {
                    block: "Installed patch modules",
                    ..
                }
            ),
            "{err:?}"
        );
        let err =
            KpatchList::parse("Loaded patch modules:\nInstalled patch modules:\nlivepatch_a\n")
                .unwrap_err();
        assert!(err.to_string().contains("livepatch_a"));
    }
}
