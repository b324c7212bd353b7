//! Whether to turn kernel live patching on (or, on request, off) on an instance, and the commands
//! and maintenance window that do it.
//!
//! AL2 has an AWS document, `AWS-ConfigureKernelLivePatching`; AL2023 has none, so the product
//! ships its own (parameter `Action` = `Enable` | `Disable`). On AL2 4.14 below `4.14.165-131.185`,
//! the AWS document installs a newer 4.14 kernel **and reboots**: unless reboots are allowed, such
//! an instance is [`EnableDecision::DeferredToRebootWindow`]; [`needs_reboot_to_enable`] names it
//! (after a reboot into a newer kernel, the next daily run enables without a reboot). An AL2 kernel
//! series with no live patches at all (5.15, 4.19) is [`EnablePath::Unsupported`]: enabling there
//! installs no kernel that has them, so no reboot would ever help; moving to 5.10 is a person's call.
//!
//! Kernel facts lag behind the product's own commands: when its latest successful enable or
//! disable on an instance is newer than the facts, the state is taken from that command, never
//! answered "already on/off" from the older facts.

use std::collections::BTreeMap;
use std::fmt;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::fleet::{
    command_comment, ManagedInstance, PingStatus, RunCommand, SEND_COMMAND_MAX_INSTANCES,
};
use crate::install::InvocationStatus;
use crate::kernel::{livepatch_support, Dist, LivePatchSupport};
use crate::{Arch, InstanceId, KernelError, KernelRelease, KpatchList, Platform};

/// The AWS-owned document that enables or disables live patching on AL2.
pub const CONFIGURE_KLP: &str = "AWS-ConfigureKernelLivePatching";
/// Comment prefixes of the product's enable and disable commands: how it finds them again.
pub const ENABLE_COMMENT_PREFIX: &str = "livepatch-autopilot enable";
pub const DISABLE_COMMENT_PREFIX: &str = "livepatch-autopilot disable";
/// The comment of a booked disable window's command: still a disable of the product's (it
/// starts with [`DISABLE_COMMENT_PREFIX`]), reported with its window rather than on its own.
pub const DISABLE_WINDOW_COMMENT_PREFIX: &str = "livepatch-autopilot disable-window";
/// Consecutive failed enables (within [`RETRY_WINDOW`]) after which the daily run stops retrying.
pub const RETRY_LIMIT: usize = 3;
pub const RETRY_WINDOW: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How far back command history is read: Run Command keeps it 30 days.
pub const HISTORY: SignedDuration = SignedDuration::from_hours(30 * 24);
/// A booked disable window: its length and the cut-off before its end after which nothing starts.
pub const WINDOW_HOURS: i32 = 2;
pub const WINDOW_CUTOFF_HOURS: i32 = 1;
/// Every disable window of the product is named with this prefix (then the request's id).
pub const DISABLE_WINDOW_PREFIX: &str = "livepatch-autopilot-disable-";

// -- what the kernel facts say ------------------------------------------------------------------

/// The kernel facts fields that live patching is judged by (inventory `Custom:KernelLivePatch`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LivePatchingFacts {
    /// `uname -r`.
    pub kernel_release: String,
    /// `uname -m`.
    pub arch: String,
    /// The plugin (`yum-plugin-kernel-livepatch` / `kpatch-dnf`) is installed.
    pub plugin_installed: bool,
    /// `systemctl is-enabled kpatch.service`.
    pub service_enabled: String,
    /// `systemctl is-active kpatch.service`.
    pub service_active: String,
    /// `kpatch list`, verbatim.
    pub kpatch_list: String,
    pub collected_at: Option<Timestamp>,
}

impl LivePatchingFacts {
    /// Reads an inventory entry; missing fields are empty.
    pub fn from_inventory(entry: &BTreeMap<String, String>) -> Self {
        let field = |name: &str| {
            entry
                .get(name)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        LivePatchingFacts {
            kernel_release: field("KernelRelease"),
            arch: field("Arch"),
            plugin_installed: field("LivePatchPlugin") == "installed",
            service_enabled: field("KpatchServiceEnabled"),
            service_active: field("KpatchServiceActive"),
            kpatch_list: entry.get("KpatchList").cloned().unwrap_or_default(),
            collected_at: field("CollectedAt").parse().ok(),
        }
    }

    /// The running kernel; a `uname -r` without an arch takes `uname -m`'s, so the 4.14 rules
    /// (x86_64 only) apply.
    pub fn kernel(&self) -> Result<KernelRelease, KernelError> {
        let kernel: KernelRelease = self.kernel_release.parse()?;
        match (kernel.arch(), Arch::from_tag(&self.arch)) {
            (None, Some(arch)) => KernelRelease::new(
                kernel.version(),
                kernel.release(),
                kernel.dist(),
                Some(arch),
            ),
            _ => Ok(kernel),
        }
    }

    /// Off, on, or on with live patches that do not load.
    pub fn state(&self) -> LivePatchingState {
        if !self.plugin_installed {
            return LivePatchingState::Off;
        }
        let service_ok = self.service_enabled == "enabled" && self.service_active != "failed";
        let unloaded: Vec<String> = match (KpatchList::parse(&self.kpatch_list), self.kernel()) {
            (Ok(list), Ok(kernel)) => list
                .not_in_effect(&kernel)
                .into_iter()
                .map(|m| m.name.clone())
                .collect(),
            (Ok(list), Err(_)) => list
                .installed()
                .iter()
                .filter(|m| !list.is_in_effect(&m.name))
                .map(|m| m.name.clone())
                .collect(),
            // No `kpatch list` output (kpatch-runtime missing): nothing to say about modules.
            (Err(_), _) => Vec::new(),
        };
        if service_ok && unloaded.is_empty() {
            LivePatchingState::On
        } else {
            LivePatchingState::NotInEffect(NotInEffect {
                service_enabled: self.service_enabled.clone(),
                service_active: self.service_active.clone(),
                unloaded,
            })
        }
    }
}

/// Live patching on an instance, judged from its kernel facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LivePatchingState {
    /// The plugin is not installed: no live patches are offered.
    Off,
    /// Plugin installed, `kpatch.service` enabled, every installed live patch loaded.
    On,
    /// Plugin installed, but `kpatch.service` is not enabled (or failed) or live patches are
    /// installed and not loaded: their fixes are not in effect.
    NotInEffect(NotInEffect),
}

/// Why live patches are (or the next ones will be) not in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInEffect {
    pub service_enabled: String,
    pub service_active: String,
    /// Modules installed for the running kernel but not loaded and enabled.
    pub unloaded: Vec<String>,
}

impl NotInEffect {
    /// What fixes it on the instance.
    pub const FIX: &'static str =
        "run `sudo systemctl enable --now kpatch.service` on it (loads the installed live patches, and again at every boot), or send a manual enable request naming it";
}

impl fmt::Display for NotInEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |s: &str| if s.is_empty() { "unknown" } else { s }.to_owned();
        let mut parts = Vec::new();
        if self.service_enabled != "enabled" {
            parts.push(format!(
                "kpatch.service is {} ({})",
                shown(&self.service_enabled),
                shown(&self.service_active)
            ));
        } else if self.service_active == "failed" {
            parts.push("kpatch.service is enabled but failed".to_owned());
        }
        if !self.unloaded.is_empty() {
            parts.push(format!(
                "installed but not loaded: {}",
                self.unloaded.join(", ")
            ));
        }
        write!(f, "live patches not in effect: {}", parts.join("; "))
    }
}

// -- how live patching is switched on a platform -------------------------------------------------

/// The document that switches live patching on a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// `AWS-ConfigureKernelLivePatching`, `EnableOrDisable`.
    Al2,
    /// The product's own document, `Action`.
    Al2023,
}

impl Route {
    pub fn for_platform(platform: &Platform) -> Option<Route> {
        match platform {
            Platform::AmazonLinux2 => Some(Route::Al2),
            Platform::AmazonLinux2023 => Some(Route::Al2023),
            Platform::Other(_) => None,
        }
    }

    pub fn document(self, settings: &EnableSettings) -> &str {
        match self {
            Route::Al2 => CONFIGURE_KLP,
            Route::Al2023 => &settings.al2023_document,
        }
    }

    pub fn parameters(self, action: Action) -> BTreeMap<String, Vec<String>> {
        let name = match self {
            Route::Al2 => "EnableOrDisable",
            Route::Al2023 => "Action",
        };
        BTreeMap::from([(name.to_owned(), vec![action.as_str().to_owned()])])
    }
}

/// Turning live patching on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Enable,
    Disable,
}

impl Action {
    /// The documents' parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Enable => "Enable",
            Action::Disable => "Disable",
        }
    }

    pub fn comment_prefix(self) -> &'static str {
        match self {
            Action::Enable => ENABLE_COMMENT_PREFIX,
            Action::Disable => DISABLE_COMMENT_PREFIX,
        }
    }

    /// The product's action a command comment names, `None` for anyone else's command.
    pub fn of_comment(comment: &str) -> Option<Action> {
        [Action::Enable, Action::Disable]
            .into_iter()
            .find(|a| comment.starts_with(a.comment_prefix()))
    }
}

/// Why enabling live patching would reboot the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootReason {
    /// AL2 4.14 below the minimum: the document installs a newer 4.14 kernel and reboots.
    BelowMinimum {
        kernel: KernelRelease,
        minimum: KernelRelease,
    },
}

impl fmt::Display for RebootReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BelowMinimum { kernel, minimum } => write!(
                f,
                "kernel {kernel} is below {}-{}: enabling installs a newer kernel and reboots",
                minimum.version(),
                minimum.release()
            ),
        }
    }
}

/// How live patching can be enabled on a platform and kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnablePath {
    /// At once, without a reboot.
    Now(Route),
    /// Only with a kernel change and a reboot.
    AfterReboot(Route, RebootReason),
    /// Not at all: reported, never touched.
    Unsupported(String),
}

/// Decides the [`EnablePath`] (DOMAIN.md §1).
pub fn enable_path(platform: &Platform, kernel: &KernelRelease) -> EnablePath {
    let Some(route) = Route::for_platform(platform) else {
        return EnablePath::Unsupported(format!("{platform} does not offer kernel live patching"));
    };
    match livepatch_support(platform, kernel) {
        LivePatchSupport::Supported => EnablePath::Now(route),
        LivePatchSupport::BelowMinimum { minimum } => EnablePath::AfterReboot(
            route,
            RebootReason::BelowMinimum {
                kernel: kernel.clone(),
                minimum,
            },
        ),
        // An AL2 series with no live patches (5.15, 4.19): enabling installs no kernel that has
        // them, so a reboot would land on the same series again. Moving to 5.10 is a person's call.
        LivePatchSupport::NoLivePatches { .. }
            if route == Route::Al2
                && kernel.dist() == Dist::Amzn2
                && kernel.series() != (4, 14) =>
        {
            let (major, minor) = kernel.series();
            EnablePath::Unsupported(format!(
                "no live patches for kernel series {major}.{minor} ({kernel}); move to kernel 5.10 (amazon-linux-extras install kernel-5.10) and reboot"
            ))
        }
        // 4.14 on arm64 (or of unknown arch) and kernels of the other dist.
        LivePatchSupport::NoLivePatches { reason } => EnablePath::Unsupported(reason),
    }
}

/// `Some` when enabling live patching on this kernel installs a newer kernel and reboots (AL2 4.14
/// below the minimum only), so the instance belongs in a maintenance window. Kernel series without
/// live patches (AL2 5.15) are never named: rebooting them changes nothing.
pub fn needs_reboot_to_enable(platform: &Platform, kernel: &KernelRelease) -> Option<RebootReason> {
    match enable_path(platform, kernel) {
        EnablePath::AfterReboot(_, reason) => Some(reason),
        _ => None,
    }
}

// -- the decision -------------------------------------------------------------------------------

/// A run of either enable/disable document on an instance, from command history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePatchingRun {
    pub command_id: String,
    pub document: String,
    pub requested: Timestamp,
    pub status: InvocationStatus,
    /// What the product sent it for; `None` when someone else sent it.
    pub by_us: Option<Action>,
}

/// Everything known about one instance when deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnableFacts {
    /// `None`: Systems Manager does not list it (unknown, stopped, or unmanaged).
    pub instance: Option<ManagedInstance>,
    /// Matches the target tags (always, when none are configured).
    pub in_scope: bool,
    pub opted_out: bool,
    /// `None` when no kernel facts were collected yet.
    pub facts: Option<LivePatchingFacts>,
    /// Runs of the enable/disable documents on it within [`HISTORY`], in any order.
    pub history: Vec<LivePatchingRun>,
    /// The id of an `AWS-RunPatchBaseline` command still running on it: a rebooting action waits.
    pub patch_run: Option<String>,
    /// A disable window of the product, not yet run, that already names it.
    pub pending_disable: Option<PendingDisable>,
    /// The product's record that a manual request disabled it (kept beyond command history).
    pub disabled_record: Option<DisabledRecord>,
}

/// What the product remembers of a manual disable, for as long as the instance exists: the daily
/// run never turns live patching back on where a person turned it off.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DisabledRecord {
    /// The manual request's event id.
    pub request: String,
    /// When the request was made.
    pub requested: Timestamp,
}

/// A disable window of the product that has not run yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDisable {
    pub window_id: String,
    pub window_name: String,
    pub start: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnableSettings {
    /// Enable at once where that installs a kernel and reboots (AL2 4.14 below the minimum).
    pub allow_reboot: bool,
    /// The product's AL2023 document.
    pub al2023_document: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub timeout_seconds: i32,
    /// The role Systems Manager assumes to run a booked disable window's task; `None`: its
    /// service-linked role.
    pub window_task_role: Option<String>,
}

/// What asked for the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The daily schedule: careful, never overrides a person's earlier choice.
    Scheduled,
    /// A manual request naming the instance: retries what the schedule gave up on, and repairs.
    Manual,
}

/// Why nothing is done on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnableSkip {
    NotRegistered,
    OutOfScope,
    OptedOut,
    AgentNotOnline {
        ping: PingStatus,
    },
    NoKernelFacts,
    UnreadableFacts {
        problem: String,
    },
    AlreadyOn,
    AlreadyOff,
    /// An enable or disable document runs on it (ours or anyone's).
    InProgress {
        command_id: String,
        document: String,
    },
    /// Our enable (or disable) succeeded; no kernel facts were collected since to confirm it.
    AwaitingFacts {
        command_id: String,
        action: Action,
    },
    /// The action reboots and a patch run (`AWS-RunPatchBaseline`) is still running on it.
    PatchRunInProgress {
        command_id: String,
    },
    /// A disable window of the product already names it.
    AlreadyBooked(PendingDisable),
    /// A person disabled it through the product: the schedule does not turn it back on.
    DisabledOnRequest {
        /// "command c-…" (from command history) or "request <event id>" (from its record).
        reference: String,
        requested: Timestamp,
    },
}

impl fmt::Display for EnableSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRegistered => {
                f.write_str("not registered with Systems Manager (unknown, stopped, or unmanaged)")
            }
            Self::OutOfScope => f.write_str("outside the configured target tags"),
            Self::OptedOut => f.write_str("opted out by tag"),
            Self::AgentNotOnline { ping } => {
                write!(f, "SSM agent not reachable (ping status {ping})")
            }
            Self::NoKernelFacts => f.write_str("no kernel facts yet; the next scan collects them"),
            Self::UnreadableFacts { problem } => write!(f, "kernel facts unreadable: {problem}"),
            Self::AlreadyOn => f.write_str("live patching is already on"),
            Self::AlreadyOff => f.write_str("live patching is already off"),
            Self::InProgress {
                command_id,
                document,
            } => write!(f, "{document} command {command_id} is still running on it"),
            Self::AwaitingFacts { command_id, action } => write!(
                f,
                "{} by command {command_id}; awaiting fresh kernel facts to confirm it",
                match action {
                    Action::Enable => "enabled",
                    Action::Disable => "disabled",
                }
            ),
            Self::PatchRunInProgress { command_id } => {
                write!(f, "patch run in progress: {command_id}")
            }
            Self::AlreadyBooked(p) => write!(
                f,
                "already booked in {} ({}) at {}; to disable sooner, delete that window and send the request again",
                p.window_id, p.window_name, p.start
            ),
            Self::DisabledOnRequest {
                reference,
                requested,
            } => write!(
                f,
                "live patching was disabled on request ({reference}, {requested}); only a manual enable request turns it back on"
            ),
        }
    }
}

/// The decision for one instance on an enable run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnableDecision {
    /// Send the route's document with `Enable`. With `reboot`, it installs a kernel and reboots
    /// (reboots allowed by the settings); `repair` when live patching was on but not in effect.
    Enable {
        route: Route,
        reboot: Option<RebootReason>,
        repair: bool,
    },
    /// Enabling would reboot: left to a maintenance window (the reboot planner).
    DeferredToRebootWindow(RebootReason),
    /// No live patching for this platform or kernel: reported, never touched.
    Unsupported(String),
    /// On, but live patches do not load: reported with the fix.
    NotInEffect(NotInEffect),
    /// Our enable succeeded, yet kernel facts collected after it show live patching off.
    NotVerified {
        command_id: String,
        requested: Timestamp,
        collected_at: Timestamp,
    },
    /// Enabling failed [`RETRY_LIMIT`] times in a row: reported, not retried by the schedule.
    Stuck {
        failures: usize,
        last_command_id: String,
    },
    Skip(EnableSkip),
}

/// The decision for one instance named by a disable request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisableDecision {
    /// Send the route's document with `Disable` now; on AL2 that reboots.
    Disable {
        route: Route,
        reboots: bool,
    },
    /// AL2 without `now`: the disable reboots, so it runs in a booked maintenance window.
    InWindow {
        route: Route,
    },
    Unsupported(String),
    Skip(EnableSkip),
}

struct Gated<'a> {
    instance: &'a ManagedInstance,
    facts: &'a LivePatchingFacts,
    kernel: KernelRelease,
    route: Route,
    patch_run: Option<&'a str>,
}

enum Blocked {
    Skip(EnableSkip),
    Unsupported(String),
}

/// The checks both decisions share, from "cannot" to "not now". A disable request may name an
/// opted-out instance: the tag keeps automation away, not a person's explicit request.
fn gate(facts: &EnableFacts, respect_opt_out: bool) -> Result<Gated<'_>, Blocked> {
    let skip = |s| Err(Blocked::Skip(s));
    let Some(instance) = &facts.instance else {
        return skip(EnableSkip::NotRegistered);
    };
    if !facts.in_scope {
        return skip(EnableSkip::OutOfScope);
    }
    if facts.opted_out && respect_opt_out {
        return skip(EnableSkip::OptedOut);
    }
    let Some(route) = Route::for_platform(&instance.platform) else {
        return Err(Blocked::Unsupported(format!(
            "not Amazon Linux ({})",
            instance.platform_label
        )));
    };
    if instance.ping != PingStatus::Online {
        return skip(EnableSkip::AgentNotOnline {
            ping: instance.ping.clone(),
        });
    }
    let Some(kernel_facts) = &facts.facts else {
        return skip(EnableSkip::NoKernelFacts);
    };
    let kernel = match kernel_facts.kernel() {
        Ok(kernel) => kernel,
        Err(err) => {
            return skip(EnableSkip::UnreadableFacts {
                problem: err.to_string(),
            })
        }
    };
    // Two runs would fight for the package manager's lock, and a rebooting one must finish.
    if let Some(active) = facts.history.iter().find(|r| r.status.is_active()) {
        return skip(EnableSkip::InProgress {
            command_id: active.command_id.clone(),
            document: active.document.clone(),
        });
    }
    Ok(Gated {
        instance,
        facts: kernel_facts,
        kernel,
        route,
        patch_run: facts.patch_run.as_deref(),
    })
}

/// The product's latest successful enable or disable on the instance when it is newer than the
/// kernel facts (or there is no collection time): the facts predate it and cannot tell its state.
fn newer_than_facts<'a>(
    facts: &'a EnableFacts,
    kernel_facts: &LivePatchingFacts,
) -> Option<&'a LivePatchingRun> {
    facts
        .history
        .iter()
        .filter(|r| r.by_us.is_some() && r.status == InvocationStatus::Success)
        .filter(|r| kernel_facts.collected_at.is_none_or(|at| r.requested > at))
        .max_by(|a, b| (a.requested, &a.command_id).cmp(&(b.requested, &b.command_id)))
}

/// Decides whether to enable live patching on one instance.
pub fn decide_enable(
    facts: &EnableFacts,
    settings: &EnableSettings,
    request: Request,
    now: Timestamp,
) -> EnableDecision {
    let gated = match gate(facts, true) {
        Ok(gated) => gated,
        Err(Blocked::Skip(skip)) => return EnableDecision::Skip(skip),
        Err(Blocked::Unsupported(reason)) => return EnableDecision::Unsupported(reason),
    };
    let manual = request == Request::Manual;
    let state = match newer_than_facts(facts, gated.facts) {
        Some(run) if run.by_us == Some(Action::Enable) => {
            return EnableDecision::Skip(EnableSkip::AwaitingFacts {
                command_id: run.command_id.clone(),
                action: Action::Enable,
            })
        }
        // Disabled after the facts were collected: off, whatever they say.
        Some(_) => LivePatchingState::Off,
        None => gated.facts.state(),
    };
    match state {
        LivePatchingState::On => return EnableDecision::Skip(EnableSkip::AlreadyOn),
        // Enabling again enables kpatch.service, which loads the installed patches.
        LivePatchingState::NotInEffect(_) if manual => return by_path(&gated, settings, true),
        LivePatchingState::NotInEffect(n) => return EnableDecision::NotInEffect(n),
        LivePatchingState::Off => {}
    }
    let mut ours: Vec<&LivePatchingRun> = facts
        .history
        .iter()
        .filter(|r| r.by_us.is_some() && now.duration_since(r.requested) <= HISTORY)
        .collect();
    ours.sort_by(|a, b| (b.requested, &b.command_id).cmp(&(a.requested, &a.command_id)));
    if !manual {
        if let Some(last) = ours.first().filter(|r| r.by_us == Some(Action::Disable)) {
            return EnableDecision::Skip(EnableSkip::DisabledOnRequest {
                reference: format!("command {}", last.command_id),
                requested: last.requested,
            });
        }
        // Run Command forgets after 30 days; the record does not, until an enable of the
        // product's newer than it.
        if let Some(record) = facts.disabled_record.as_ref().filter(|record| {
            !ours
                .iter()
                .any(|r| r.by_us == Some(Action::Enable) && r.requested > record.requested)
        }) {
            return EnableDecision::Skip(EnableSkip::DisabledOnRequest {
                reference: format!("request {}", record.request),
                requested: record.requested,
            });
        }
    }
    let enables: Vec<&&LivePatchingRun> = ours
        .iter()
        .take_while(|r| r.by_us == Some(Action::Enable))
        .collect();
    if let Some(last) = enables
        .first()
        .filter(|r| r.status == InvocationStatus::Success)
    {
        return match gated.facts.collected_at {
            Some(collected_at) if collected_at > last.requested && !manual => {
                EnableDecision::NotVerified {
                    command_id: last.command_id.clone(),
                    requested: last.requested,
                    collected_at,
                }
            }
            Some(collected_at) if collected_at > last.requested => by_path(&gated, settings, false),
            _ => EnableDecision::Skip(EnableSkip::AwaitingFacts {
                command_id: last.command_id.clone(),
                action: Action::Enable,
            }),
        };
    }
    let failures: Vec<&&&LivePatchingRun> = enables
        .iter()
        .take_while(|r| r.status != InvocationStatus::Success)
        .filter(|r| r.status.is_failure() && now.duration_since(r.requested) <= RETRY_WINDOW)
        .collect();
    if failures.len() >= RETRY_LIMIT && !manual {
        return EnableDecision::Stuck {
            failures: failures.len(),
            last_command_id: failures[0].command_id.clone(),
        };
    }
    by_path(&gated, settings, false)
}

fn by_path(gated: &Gated<'_>, settings: &EnableSettings, repair: bool) -> EnableDecision {
    match enable_path(&gated.instance.platform, &gated.kernel) {
        EnablePath::Now(route) => EnableDecision::Enable {
            route,
            reboot: None,
            repair,
        },
        EnablePath::AfterReboot(route, reason) if settings.allow_reboot => match gated.patch_run {
            Some(command_id) => EnableDecision::Skip(EnableSkip::PatchRunInProgress {
                command_id: command_id.to_owned(),
            }),
            None => EnableDecision::Enable {
                route,
                reboot: Some(reason),
                repair,
            },
        },
        EnablePath::AfterReboot(_, reason) => EnableDecision::DeferredToRebootWindow(reason),
        EnablePath::Unsupported(reason) => EnableDecision::Unsupported(reason),
    }
}

/// Decides a disable request for one instance. `now`: the request allows AL2's reboot at once.
pub fn decide_disable(facts: &EnableFacts, now: bool) -> DisableDecision {
    let gated = match gate(facts, false) {
        Ok(gated) => gated,
        Err(Blocked::Skip(skip)) => return DisableDecision::Skip(skip),
        Err(Blocked::Unsupported(reason)) => return DisableDecision::Unsupported(reason),
    };
    if let Some(pending) = &facts.pending_disable {
        return DisableDecision::Skip(EnableSkip::AlreadyBooked(pending.clone()));
    }
    let off = match newer_than_facts(facts, gated.facts) {
        Some(run) if run.by_us == Some(Action::Disable) => {
            return DisableDecision::Skip(EnableSkip::AwaitingFacts {
                command_id: run.command_id.clone(),
                action: Action::Disable,
            })
        }
        // Enabled after the facts were collected: on, whatever they say.
        Some(_) => false,
        None => gated.facts.state() == LivePatchingState::Off,
    };
    if off {
        return DisableDecision::Skip(EnableSkip::AlreadyOff);
    }
    match gated.route {
        Route::Al2 if now => match gated.patch_run {
            Some(command_id) => DisableDecision::Skip(EnableSkip::PatchRunInProgress {
                command_id: command_id.to_owned(),
            }),
            None => DisableDecision::Disable {
                route: Route::Al2,
                reboots: true,
            },
        },
        Route::Al2 => DisableDecision::InWindow { route: Route::Al2 },
        Route::Al2023 => DisableDecision::Disable {
            route: Route::Al2023,
            reboots: false,
        },
    }
}

// -- what is sent -------------------------------------------------------------------------------

/// The commands that apply `action` to `targets`: one per document, at most 50 instances each, in
/// id order, commented `"{prefix} {run}"` so that history shows whose and which run they are.
pub fn live_patching_commands(
    targets: &[(InstanceId, Route)],
    action: Action,
    settings: &EnableSettings,
    run: &str,
) -> Vec<RunCommand> {
    let mut by_route: BTreeMap<Route, Vec<InstanceId>> = BTreeMap::new();
    for (id, route) in targets {
        by_route.entry(*route).or_default().push(id.clone());
    }
    let mut commands = Vec::new();
    for (route, mut ids) in by_route {
        ids.sort();
        ids.dedup();
        for batch in ids.chunks(SEND_COMMAND_MAX_INSTANCES) {
            commands.push(RunCommand {
                document: route.document(settings).to_owned(),
                parameters: route.parameters(action),
                instance_ids: batch.to_vec(),
                comment: command_comment(&format!("{} {run}", action.comment_prefix())),
                max_concurrency: settings.max_concurrency.clone(),
                max_errors: settings.max_errors.clone(),
                timeout_seconds: settings.timeout_seconds,
            });
        }
    }
    commands
}

/// A one-time maintenance window that disables live patching on AL2 instances (which reboots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisableWindow {
    /// Unique per request, so a redelivered request finds its window instead of booking another.
    pub name: String,
    pub start: Timestamp,
    pub duration_hours: i32,
    pub cutoff_hours: i32,
    /// What runs in it: the document, its parameters, the instances, the comment.
    pub task: RunCommand,
    /// The role Systems Manager assumes to run the task (see [`EnableSettings::window_task_role`]).
    pub service_role_arn: Option<String>,
}

impl DisableWindow {
    /// The one-time schedule, in UTC.
    pub fn schedule(&self) -> String {
        format!("at({})", self.start.strftime("%Y-%m-%dT%H:%M:%S"))
    }
}

/// The window for `ids` (at most 50, as one request names), starting at `start`.
pub fn disable_window(
    ids: &[InstanceId],
    start: Timestamp,
    settings: &EnableSettings,
    run: &str,
) -> DisableWindow {
    let targets: Vec<(InstanceId, Route)> = ids.iter().map(|id| (id.clone(), Route::Al2)).collect();
    let mut commands = live_patching_commands(&targets, Action::Disable, settings, run);
    let mut task = commands.swap_remove(0);
    task.comment = command_comment(&format!("{DISABLE_WINDOW_COMMENT_PREFIX} {run}"));
    let safe: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    DisableWindow {
        name: format!("{DISABLE_WINDOW_PREFIX}{safe}")
            .chars()
            .take(128)
            .collect(),
        start,
        duration_hours: WINDOW_HOURS,
        cutoff_hours: WINDOW_CUTOFF_HOURS,
        task,
        service_role_arn: settings.window_task_role.clone(),
    }
}

/// The start of a one-time window from its schedule, `at(2026-12-04T03:00:00)` in UTC (as the
/// product books them); `None` for any other schedule.
pub fn one_time_start(schedule: &str) -> Option<Timestamp> {
    let inner = schedule.trim().strip_prefix("at(")?.strip_suffix(')')?;
    let civil: jiff::civil::DateTime = inner.parse().ok()?;
    civil
        .to_zoned_datetime(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Whether a window that starts at `start` and lasts `duration_hours` is over at `now`.
pub fn window_over(start: Timestamp, duration_hours: i32, now: Timestamp) -> bool {
    start + SignedDuration::from_hours(i64::from(duration_hours)) <= now
}

/// The next `hour`:00 UTC at least an hour after `now`: when a disable booked without a time runs.
pub fn next_window_start(now: Timestamp, hour: i8) -> Timestamp {
    let earliest = now + SignedDuration::from_hours(1);
    let mut day = now.to_zoned_datetime(TimeZone::UTC).date();
    loop {
        let start = day
            .at(hour, 0, 0, 0)
            .to_zoned_datetime(TimeZone::UTC)
            .expect("a UTC time exists")
            .timestamp();
        if start >= earliest {
            return start;
        }
        day = day.tomorrow().expect("not the last day of the calendar");
    }
}

/// A requested window start: at least 15 minutes after `now`, at most 30 days ahead.
pub fn check_window_start(now: Timestamp, start: Timestamp) -> Result<Timestamp, String> {
    if start < now + SignedDuration::from_mins(15) {
        return Err(format!(
            "window-start {start} is less than 15 minutes after the request ({now})"
        ));
    }
    if start > now + HISTORY {
        return Err(format!(
            "window-start {start} is more than 30 days after the request ({now})"
        ));
    }
    Ok(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-03T02:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn ago(hours: i64) -> Timestamp {
        now() - SignedDuration::from_hours(hours)
    }

    fn id(n: u32) -> InstanceId {
        format!("i-{n:017x}").parse().unwrap()
    }

    fn settings() -> EnableSettings {
        EnableSettings {
            allow_reboot: false,
            al2023_document: "LivePatchAutopilot-ConfigureKernelLivePatching".into(),
            max_concurrency: "10%".into(),
            max_errors: "25%".into(),
            timeout_seconds: 3600,
            window_task_role: Some("arn:aws:iam::123456789012:role/window-task".into()),
        }
    }

    const NOTHING_INSTALLED: &str = "Loaded patch modules:\n\nInstalled patch modules:\n";

    /// An online instance of `platform` running `kernel`, live patching off, facts from an hour ago.
    fn off(platform: Platform, kernel: &str) -> EnableFacts {
        let label = platform.to_string();
        let arch = kernel.rsplit('.').next().unwrap_or_default().to_owned();
        EnableFacts {
            instance: Some(ManagedInstance {
                id: id(1),
                ping: PingStatus::Online,
                platform,
                platform_label: label,
                computer_name: None,
            }),
            in_scope: true,
            opted_out: false,
            facts: Some(LivePatchingFacts {
                kernel_release: kernel.into(),
                arch,
                plugin_installed: false,
                service_enabled: "disabled".into(),
                service_active: "inactive".into(),
                kpatch_list: String::new(),
                collected_at: Some(ago(1)),
            }),
            history: vec![],
            patch_run: None,
            pending_disable: None,
            disabled_record: None,
        }
    }

    fn al2(kernel: &str) -> EnableFacts {
        off(Platform::AmazonLinux2, kernel)
    }

    fn al2023(kernel: &str) -> EnableFacts {
        off(Platform::AmazonLinux2023, kernel)
    }

    fn on(mut f: EnableFacts, service: &str, list: &str) -> EnableFacts {
        let facts = f.facts.as_mut().unwrap();
        facts.plugin_installed = true;
        facts.service_enabled = service.into();
        facts.service_active = if service == "enabled" {
            "active"
        } else {
            "inactive"
        }
        .into();
        facts.kpatch_list = list.into();
        f
    }

    fn run(
        id: &str,
        hours_ago: i64,
        status: InvocationStatus,
        by_us: Option<Action>,
    ) -> LivePatchingRun {
        LivePatchingRun {
            command_id: id.into(),
            document: CONFIGURE_KLP.into(),
            requested: ago(hours_ago),
            status,
            by_us,
        }
    }

    fn decide(f: &EnableFacts) -> EnableDecision {
        decide_enable(f, &settings(), Request::Scheduled, now())
    }

    fn manual(f: &EnableFacts) -> EnableDecision {
        decide_enable(f, &settings(), Request::Manual, now())
    }

    fn allowing_reboot(f: &EnableFacts) -> EnableDecision {
        let s = EnableSettings {
            allow_reboot: true,
            ..settings()
        };
        decide_enable(f, &s, Request::Scheduled, now())
    }

    fn enable(route: Route) -> EnableDecision {
        EnableDecision::Enable {
            route,
            reboot: None,
            repair: false,
        }
    }

    fn k(s: &str) -> KernelRelease {
        s.parse().unwrap()
    }

    const AL2_510_X86: &str = "5.10.227-219.884.amzn2.x86_64";
    const AL2_510_ARM: &str = "5.10.227-219.884.amzn2.aarch64";
    const AL2_414_OLD: &str = "4.14.152-124.171.amzn2.x86_64";
    const AL2_414_MIN: &str = "4.14.165-131.185.amzn2.x86_64";
    const AL2_414_NEW: &str = "4.14.355-275.570.amzn2.x86_64";
    const AL2_414_ARM: &str = "4.14.355-275.570.amzn2.aarch64";
    const AL2_515: &str = "5.15.168-114.166.amzn2.x86_64";
    const AL2023_61: &str = "6.1.115-126.197.amzn2023.x86_64";
    const AL2023_612: &str = "6.12.40-63.114.amzn2023.aarch64";

    #[test]
    fn al2_510_is_enabled_with_the_aws_document_without_a_reboot_on_both_arches() {
        assert_eq!(decide(&al2(AL2_510_X86)), enable(Route::Al2));
        assert_eq!(decide(&al2(AL2_510_ARM)), enable(Route::Al2));
    }

    #[test]
    fn al2_414_at_or_above_the_minimum_is_enabled_at_once() {
        assert_eq!(decide(&al2(AL2_414_MIN)), enable(Route::Al2));
        assert_eq!(decide(&al2(AL2_414_NEW)), enable(Route::Al2));
        // RPM order, not string order: 4.14.9 < 4.14.165, 131.1850 > 131.185.
        assert_eq!(
            decide(&al2("4.14.165-131.1850.amzn2.x86_64")),
            enable(Route::Al2)
        );
    }

    #[test]
    fn al2_414_below_the_minimum_is_deferred_to_a_reboot_window_and_says_why() {
        for kernel in [
            AL2_414_OLD,
            "4.14.9-1.1.amzn2.x86_64",
            "4.14.165-131.184.amzn2.x86_64",
        ] {
            let d = decide(&al2(kernel));
            let EnableDecision::DeferredToRebootWindow(reason) = &d else {
                panic!("{kernel}: {d:?}")
            };
            assert!(matches!(reason, RebootReason::BelowMinimum { .. }));
            assert_eq!(
                reason.to_string(),
                format!("kernel {kernel} is below 4.14.165-131.185: enabling installs a newer kernel and reboots")
            );
        }
    }

    #[test]
    fn the_allow_reboot_setting_enables_at_once_with_the_reboot_named() {
        let d = allowing_reboot(&al2(AL2_414_OLD));
        let EnableDecision::Enable {
            route: Route::Al2,
            reboot: Some(RebootReason::BelowMinimum { minimum, .. }),
            repair: false,
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(minimum.to_string(), AL2_414_MIN);
        // Without a reboot to allow, the setting changes nothing.
        assert_eq!(allowing_reboot(&al2(AL2_510_X86)), enable(Route::Al2));
    }

    #[test]
    fn al2_515_gets_no_live_patches_so_it_is_unsupported_never_rebooted_even_when_allowed() {
        for kernel in [AL2_515, "4.19.10-1.1.amzn2.x86_64"] {
            for d in [
                decide(&al2(kernel)),
                allowing_reboot(&al2(kernel)),
                manual(&al2(kernel)),
            ] {
                let EnableDecision::Unsupported(reason) = &d else {
                    panic!("{kernel}: {d:?}")
                };
                assert!(
                    reason.starts_with("no live patches for kernel series ")
                        && reason.ends_with(
                            "; move to kernel 5.10 (amazon-linux-extras install kernel-5.10) and reboot"
                        ),
                    "{reason}"
                );
            }
            assert!(needs_reboot_to_enable(&Platform::AmazonLinux2, &k(kernel)).is_none());
        }
        let EnableDecision::Unsupported(reason) = decide(&al2(AL2_515)) else {
            panic!()
        };
        assert!(
            reason.starts_with("no live patches for kernel series 5.15 ("),
            "{reason}"
        );
    }

    #[test]
    fn al2_414_on_arm64_is_unsupported_even_when_reboots_are_allowed() {
        for d in [
            decide(&al2(AL2_414_ARM)),
            allowing_reboot(&al2(AL2_414_ARM)),
        ] {
            let EnableDecision::Unsupported(reason) = &d else {
                panic!("{d:?}")
            };
            assert!(reason.contains("aarch64"), "{reason}");
        }
    }

    #[test]
    fn al2023_61_and_612_are_enabled_with_the_products_document() {
        assert_eq!(decide(&al2023(AL2023_61)), enable(Route::Al2023));
        assert_eq!(decide(&al2023(AL2023_612)), enable(Route::Al2023));
        let d = decide(&al2023("6.6.10-1.1.amzn2023.x86_64"));
        assert!(matches!(d, EnableDecision::Unsupported(_)), "{d:?}");
    }

    #[test]
    fn other_distributions_and_mismatched_kernels_are_unsupported_and_untouched() {
        let mut ubuntu = off(Platform::Other("Ubuntu 22.04".into()), "5.15.0-1072-aws");
        ubuntu.facts = None;
        assert_eq!(
            decide(&ubuntu),
            EnableDecision::Unsupported("not Amazon Linux (Ubuntu 22.04)".into())
        );
        assert!(matches!(
            decide_disable(&ubuntu, true),
            DisableDecision::Unsupported(_)
        ));
        let d = decide(&al2(AL2023_61));
        assert!(matches!(d, EnableDecision::Unsupported(_)), "{d:?}");
    }

    #[test]
    fn live_patching_already_on_needs_nothing() {
        let loaded = "Loaded patch modules:\nlivepatch_CVE_2026_21001 [enabled]\n\nInstalled patch modules:\nlivepatch_CVE_2026_21001 (5.10.227-219.884.amzn2.x86_64)\n";
        assert_eq!(
            decide(&on(al2(AL2_510_X86), "enabled", loaded)),
            EnableDecision::Skip(EnableSkip::AlreadyOn)
        );
        assert_eq!(
            manual(&on(al2023(AL2023_61), "enabled", NOTHING_INSTALLED)),
            EnableDecision::Skip(EnableSkip::AlreadyOn)
        );
    }

    #[test]
    fn plugin_on_with_kpatch_service_disabled_is_not_in_effect_and_a_manual_request_repairs_it() {
        let f = on(al2(AL2_510_X86), "disabled", NOTHING_INSTALLED);
        let EnableDecision::NotInEffect(n) = decide(&f) else {
            panic!()
        };
        assert_eq!(
            n.to_string(),
            "live patches not in effect: kpatch.service is disabled (inactive)"
        );
        assert_eq!(
            manual(&f),
            EnableDecision::Enable {
                route: Route::Al2,
                reboot: None,
                repair: true
            }
        );
    }

    #[test]
    fn installed_but_not_loaded_is_not_in_effect_naming_the_modules() {
        let unloaded = "Loaded patch modules:\n\nInstalled patch modules:\nlivepatch_CVE_2026_21001 (5.10.227-219.884.amzn2.x86_64)\nlivepatch_CVE_2026_21017 (5.10.227-219.884.amzn2.x86_64)\n";
        let d = decide(&on(al2(AL2_510_X86), "enabled", unloaded));
        let EnableDecision::NotInEffect(n) = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            n.unloaded,
            ["livepatch_CVE_2026_21001", "livepatch_CVE_2026_21017"]
        );
        assert!(n.to_string().ends_with(
            "installed but not loaded: livepatch_CVE_2026_21001, livepatch_CVE_2026_21017"
        ));
        // A failed service is not in effect either, even with nothing listed.
        let mut failed = on(al2023(AL2023_61), "enabled", NOTHING_INSTALLED);
        failed.facts.as_mut().unwrap().service_active = "failed".into();
        assert!(matches!(decide(&failed), EnableDecision::NotInEffect(_)));
    }

    #[test]
    fn scope_opt_out_registration_and_agent_come_first() {
        let mut f = al2(AL2_510_X86);
        f.opted_out = true;
        assert_eq!(decide(&f), EnableDecision::Skip(EnableSkip::OptedOut));
        assert_eq!(manual(&f), EnableDecision::Skip(EnableSkip::OptedOut));
        f.in_scope = false;
        assert_eq!(decide(&f), EnableDecision::Skip(EnableSkip::OutOfScope));
        f.instance = None;
        assert_eq!(decide(&f), EnableDecision::Skip(EnableSkip::NotRegistered));
        let mut offline = al2(AL2_510_X86);
        offline.instance.as_mut().unwrap().ping = PingStatus::ConnectionLost;
        assert_eq!(
            decide(&offline),
            EnableDecision::Skip(EnableSkip::AgentNotOnline {
                ping: PingStatus::ConnectionLost
            })
        );
    }

    #[test]
    fn missing_or_unreadable_facts_are_skipped_with_the_reason() {
        let mut f = al2(AL2_510_X86);
        f.facts = None;
        assert_eq!(decide(&f), EnableDecision::Skip(EnableSkip::NoKernelFacts));
        let mut f = al2(AL2_510_X86);
        f.facts.as_mut().unwrap().kernel_release = "garbage".into();
        let EnableDecision::Skip(EnableSkip::UnreadableFacts { problem }) = decide(&f) else {
            panic!()
        };
        assert!(problem.contains("garbage"), "{problem}");
    }

    #[test]
    fn a_running_enable_or_disable_is_never_doubled() {
        for by_us in [Some(Action::Enable), None, Some(Action::Disable)] {
            let mut f = al2(AL2_510_X86);
            f.history = vec![run("c-1", 0, InvocationStatus::InProgress, by_us)];
            let expected = EnableDecision::Skip(EnableSkip::InProgress {
                command_id: "c-1".into(),
                document: CONFIGURE_KLP.into(),
            });
            assert_eq!(decide(&f), expected);
            assert_eq!(manual(&f), expected);
        }
        let mut f = al2(AL2_510_X86);
        f.history = vec![run(
            "c-1",
            0,
            InvocationStatus::Pending,
            Some(Action::Enable),
        )];
        assert!(matches!(
            decide_disable(&f, true),
            DisableDecision::Skip(EnableSkip::InProgress { .. })
        ));
    }

    #[test]
    fn a_successful_enable_waits_for_the_next_facts_then_is_verified_or_reported() {
        // Facts collected an hour ago, enable sent half an hour ago: wait.
        let mut f = al2(AL2_510_X86);
        f.history = vec![LivePatchingRun {
            requested: now() - SignedDuration::from_mins(30),
            ..run("c-1", 0, InvocationStatus::Success, Some(Action::Enable))
        }];
        let waiting = EnableDecision::Skip(EnableSkip::AwaitingFacts {
            command_id: "c-1".into(),
            action: Action::Enable,
        });
        assert_eq!(decide(&f), waiting);
        assert_eq!(manual(&f), waiting, "a redelivered request does not resend");
        // Facts collected after it still say off: reported, not resent by the schedule.
        f.history[0].requested = ago(20);
        assert_eq!(
            decide(&f),
            EnableDecision::NotVerified {
                command_id: "c-1".into(),
                requested: ago(20),
                collected_at: ago(1)
            }
        );
        assert_eq!(manual(&f), enable(Route::Al2), "a person may try again");
        // Facts after it show it on: nothing to do.
        let verified = on(f, "enabled", NOTHING_INSTALLED);
        assert_eq!(
            decide(&verified),
            EnableDecision::Skip(EnableSkip::AlreadyOn)
        );
    }

    #[test]
    fn failed_enables_are_retried_until_the_limit_then_reported_stuck() {
        let failed = |id: &str, h| run(id, h, InvocationStatus::Failed, Some(Action::Enable));
        let mut f = al2023(AL2023_61);
        f.history = vec![failed("c-1", 48), failed("c-2", 24)];
        assert_eq!(decide(&f), enable(Route::Al2023));
        f.history.push(failed("c-3", 2));
        assert_eq!(
            decide(&f),
            EnableDecision::Stuck {
                failures: 3,
                last_command_id: "c-3".into()
            }
        );
        assert_eq!(manual(&f), enable(Route::Al2023), "a person may try again");
        // Failures older than the retry window, or before a success, do not count.
        f.history[0].requested = ago(8 * 24);
        assert_eq!(decide(&f), enable(Route::Al2023));
        f.history = vec![
            failed("c-1", 48),
            failed("c-2", 40),
            failed("c-3", 35),
            run("c-4", 30, InvocationStatus::Success, Some(Action::Disable)),
            run("c-5", 20, InvocationStatus::Success, Some(Action::Enable)),
            failed("c-6", 1),
        ];
        assert_eq!(decide(&f), enable(Route::Al2023));
        // Never delivered (stopped at the time) is no failure; foreign runs are no attempts.
        let mut f = al2023(AL2023_61);
        f.history = vec![
            failed("c-1", 30),
            run(
                "c-2",
                20,
                InvocationStatus::NotDelivered("DeliveryTimedOut".into()),
                Some(Action::Enable),
            ),
            run("c-3", 10, InvocationStatus::Failed, None),
            failed("c-4", 5),
        ];
        assert_eq!(decide(&f), enable(Route::Al2023));
    }

    #[test]
    fn a_disable_on_request_is_never_undone_by_the_schedule() {
        let mut f = al2(AL2_510_X86);
        f.history = vec![
            run("c-1", 300, InvocationStatus::Success, Some(Action::Enable)),
            run("c-2", 100, InvocationStatus::Success, Some(Action::Disable)),
        ];
        assert_eq!(
            decide(&f),
            EnableDecision::Skip(EnableSkip::DisabledOnRequest {
                reference: "command c-2".into(),
                requested: ago(100)
            })
        );
        assert_eq!(manual(&f), enable(Route::Al2));
        // Beyond the history Run Command keeps, only the record remembers.
        f.history[1].requested = ago(31 * 24);
        f.history[0].requested = ago(32 * 24);
        assert_eq!(
            decide(&f),
            enable(Route::Al2),
            "no record: nothing remembers"
        );
        f.disabled_record = Some(DisabledRecord {
            request: "r-0601".into(),
            requested: ago(31 * 24),
        });
        assert_eq!(
            decide(&f),
            EnableDecision::Skip(EnableSkip::DisabledOnRequest {
                reference: "request r-0601".into(),
                requested: ago(31 * 24)
            })
        );
        assert_eq!(
            manual(&f),
            enable(Route::Al2),
            "a manual enable overrides it"
        );
        // An enable of the product's newer than the record (its deletion failed) wins.
        f.history = vec![run(
            "c-3",
            5,
            InvocationStatus::Failed,
            Some(Action::Enable),
        )];
        assert_eq!(decide(&f), enable(Route::Al2));
        // An older enable does not.
        f.history[0].requested = ago(40 * 24);
        assert!(matches!(
            decide(&f),
            EnableDecision::Skip(EnableSkip::DisabledOnRequest { .. })
        ));
    }

    #[test]
    fn disable_reboots_al2_only_when_asked_now_and_books_a_window_otherwise() {
        let loaded = on(al2(AL2_510_X86), "enabled", NOTHING_INSTALLED);
        assert_eq!(
            decide_disable(&loaded, true),
            DisableDecision::Disable {
                route: Route::Al2,
                reboots: true
            }
        );
        assert_eq!(
            decide_disable(&loaded, false),
            DisableDecision::InWindow { route: Route::Al2 }
        );
        let al2023_on = on(al2023(AL2023_61), "enabled", NOTHING_INSTALLED);
        for now in [true, false] {
            assert_eq!(
                decide_disable(&al2023_on, now),
                DisableDecision::Disable {
                    route: Route::Al2023,
                    reboots: false
                }
            );
        }
        assert_eq!(
            decide_disable(&al2(AL2_510_X86), true),
            DisableDecision::Skip(EnableSkip::AlreadyOff)
        );
        // Not in effect still counts as on: the plugin is there to remove.
        let broken = on(al2023(AL2023_61), "disabled", NOTHING_INSTALLED);
        assert!(matches!(
            decide_disable(&broken, false),
            DisableDecision::Disable { .. }
        ));
    }

    #[test]
    fn a_disable_request_may_name_an_opted_out_instance_but_an_enable_may_not() {
        let mut f = on(al2023(AL2023_61), "enabled", NOTHING_INSTALLED);
        f.opted_out = true;
        assert!(matches!(
            decide_disable(&f, false),
            DisableDecision::Disable { .. }
        ));
        f.in_scope = false;
        assert_eq!(
            decide_disable(&f, false),
            DisableDecision::Skip(EnableSkip::OutOfScope)
        );
    }

    #[test]
    fn the_reboot_planner_asks_which_kernels_need_a_reboot_to_enable() {
        let al2 = Platform::AmazonLinux2;
        for (platform, kernel, needs) in [
            (&al2, AL2_414_OLD, true),
            (&al2, AL2_515, false),
            (&al2, "4.19.10-1.1.amzn2.x86_64", false),
            (&al2, AL2_414_MIN, false),
            (&al2, AL2_510_X86, false),
            (&al2, AL2_510_ARM, false),
            (&al2, AL2_414_ARM, false),
            (&al2, "4.14.152-124.171.amzn2", false),
            (&Platform::AmazonLinux2023, AL2023_61, false),
            (
                &Platform::AmazonLinux2023,
                "6.6.10-1.1.amzn2023.x86_64",
                false,
            ),
            (&Platform::Other("Ubuntu 22.04".into()), AL2_510_X86, false),
        ] {
            assert_eq!(
                needs_reboot_to_enable(platform, &k(kernel)).is_some(),
                needs,
                "{platform} {kernel}"
            );
        }
    }

    #[test]
    fn commands_go_one_per_document_in_batches_of_fifty_with_the_runs_comment() {
        let mut targets: Vec<(InstanceId, Route)> =
            (0..60).map(|n| (id(n), Route::Al2023)).collect();
        targets.push((id(100), Route::Al2));
        targets.push((id(100), Route::Al2));
        let commands = live_patching_commands(&targets, Action::Enable, &settings(), "evt-1");
        assert_eq!(commands.len(), 3);
        assert_eq!(commands[0].document, CONFIGURE_KLP);
        assert_eq!(commands[0].instance_ids, [id(100)]);
        assert_eq!(
            commands[0].parameters,
            BTreeMap::from([("EnableOrDisable".to_owned(), vec!["Enable".to_owned()])])
        );
        assert_eq!(
            commands[1].document,
            "LivePatchAutopilot-ConfigureKernelLivePatching"
        );
        assert_eq!(
            commands[1].parameters,
            BTreeMap::from([("Action".to_owned(), vec!["Enable".to_owned()])])
        );
        assert_eq!(
            (
                commands[1].instance_ids.len(),
                commands[2].instance_ids.len()
            ),
            (50, 10)
        );
        assert_eq!(commands[1].comment, "livepatch-autopilot enable evt-1");
        assert_eq!(commands[1].max_concurrency, "10%");
        let disable = live_patching_commands(&targets[..1], Action::Disable, &settings(), "r");
        assert_eq!(disable[0].comment, "livepatch-autopilot disable r");
        assert_eq!(disable[0].parameters["Action"], ["Disable"]);
        assert_eq!(
            Action::of_comment("livepatch-autopilot disable r"),
            Some(Action::Disable)
        );
        assert_eq!(Action::of_comment("livepatch-autopilot scan r 1/1"), None);
    }

    #[test]
    fn a_disable_window_runs_the_aws_document_and_is_named_after_the_request() {
        let start: Timestamp = "2026-12-04T03:00:00Z".parse().unwrap();
        let w = disable_window(&[id(2), id(1)], start, &settings(), "6f1c/ab 12");
        assert_eq!(w.name, "livepatch-autopilot-disable-6f1c-ab-12");
        assert_eq!(w.schedule(), "at(2026-12-04T03:00:00)");
        assert_eq!((w.duration_hours, w.cutoff_hours), (2, 1));
        assert_eq!(w.task.document, CONFIGURE_KLP);
        assert_eq!(w.task.parameters["EnableOrDisable"], ["Disable"]);
        assert_eq!(w.task.instance_ids, [id(1), id(2)]);
        assert_eq!(
            w.task.comment,
            "livepatch-autopilot disable-window 6f1c/ab 12"
        );
        assert_eq!(Action::of_comment(&w.task.comment), Some(Action::Disable));
    }

    #[test]
    fn a_one_time_window_is_over_once_its_start_plus_duration_has_passed() {
        let start = one_time_start("at(2026-12-04T03:00:00)").unwrap();
        assert_eq!(start, "2026-12-04T03:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(one_time_start("cron(0 3 ? * SUN *)"), None);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(!window_over(start, 2, at("2026-12-04T04:59:59Z")));
        assert!(window_over(start, 2, at("2026-12-04T05:00:00Z")));
    }

    #[test]
    fn windows_start_at_the_next_hour_at_least_an_hour_away_or_when_asked() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            next_window_start(at("2026-12-03T01:00:00Z"), 3),
            at("2026-12-03T03:00:00Z")
        );
        assert_eq!(
            next_window_start(at("2026-12-03T02:30:00Z"), 3),
            at("2026-12-04T03:00:00Z")
        );
        assert_eq!(
            next_window_start(at("2026-12-31T23:59:00Z"), 0),
            at("2027-01-01T00:00:00Z") + SignedDuration::from_hours(24)
        );
        let now = at("2026-12-03T02:00:00Z");
        assert!(check_window_start(now, at("2026-12-03T02:10:00Z")).is_err());
        assert!(check_window_start(now, at("2027-01-10T02:10:00Z")).is_err());
        assert_eq!(
            check_window_start(now, at("2026-12-06T03:00:00Z")),
            Ok(at("2026-12-06T03:00:00Z"))
        );
    }

    #[test]
    fn facts_are_read_from_the_inventory_entry() {
        let entry: BTreeMap<String, String> = [
            ("KernelRelease", "4.14.355-275.570.amzn2"),
            ("Arch", "aarch64"),
            ("LivePatchPlugin", "installed"),
            ("KpatchServiceEnabled", "enabled"),
            ("KpatchServiceActive", "active"),
            ("KpatchList", NOTHING_INSTALLED),
            ("CollectedAt", "2026-12-03T01:00:00Z"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let facts = LivePatchingFacts::from_inventory(&entry);
        assert_eq!(facts.kernel().unwrap().arch(), Some(Arch::Aarch64));
        assert_eq!(facts.collected_at, Some(ago(1)));
        assert_eq!(facts.state(), LivePatchingState::On);
        let none = LivePatchingFacts::from_inventory(&BTreeMap::new());
        assert_eq!(none.state(), LivePatchingState::Off);
        assert!(none.kernel().is_err());
    }

    #[test]
    fn a_request_after_the_products_own_newer_command_never_answers_already_from_stale_facts() {
        // Facts (an hour ago) say on; the product disabled it half an hour ago.
        let mut f = on(al2023(AL2023_61), "enabled", NOTHING_INSTALLED);
        f.history = vec![LivePatchingRun {
            requested: now() - SignedDuration::from_mins(30),
            ..run("c-off", 0, InvocationStatus::Success, Some(Action::Disable))
        }];
        assert_eq!(
            manual(&f),
            enable(Route::Al2023),
            "off, whatever the facts say"
        );
        assert!(matches!(
            decide(&f),
            EnableDecision::Skip(EnableSkip::DisabledOnRequest { .. })
        ));
        assert_eq!(
            decide_disable(&f, false),
            DisableDecision::Skip(EnableSkip::AwaitingFacts {
                command_id: "c-off".into(),
                action: Action::Disable
            }),
            "a redelivered disable is not sent again, nor answered already off"
        );
        // Facts say off; the product enabled it half an hour ago: a disable goes through.
        let mut f = al2023(AL2023_61);
        f.history = vec![LivePatchingRun {
            requested: now() - SignedDuration::from_mins(30),
            ..run("c-on", 0, InvocationStatus::Success, Some(Action::Enable))
        }];
        assert_eq!(
            decide_disable(&f, false),
            DisableDecision::Disable {
                route: Route::Al2023,
                reboots: false
            }
        );
        // Facts on, our enable newer: awaiting facts, not "already on".
        let f = on(f, "enabled", NOTHING_INSTALLED);
        assert_eq!(
            manual(&f),
            EnableDecision::Skip(EnableSkip::AwaitingFacts {
                command_id: "c-on".into(),
                action: Action::Enable
            })
        );
        assert_eq!(
            EnableSkip::AwaitingFacts {
                command_id: "c-on".into(),
                action: Action::Enable
            }
            .to_string(),
            "enabled by command c-on; awaiting fresh kernel facts to confirm it"
        );
        // Commands older than the facts (or someone else's, or failed) leave the facts in charge.
        let mut f = on(al2023(AL2023_61), "enabled", NOTHING_INSTALLED);
        f.history = vec![
            run("c-old", 2, InvocationStatus::Success, Some(Action::Disable)),
            LivePatchingRun {
                requested: now() - SignedDuration::from_mins(30),
                ..run("c-foreign", 0, InvocationStatus::Success, None)
            },
            LivePatchingRun {
                requested: now() - SignedDuration::from_mins(20),
                ..run(
                    "c-failed",
                    0,
                    InvocationStatus::Failed,
                    Some(Action::Disable),
                )
            },
        ];
        assert_eq!(manual(&f), EnableDecision::Skip(EnableSkip::AlreadyOn));
    }

    #[test]
    fn an_instance_in_a_pending_disable_window_is_answered_already_booked() {
        let mut f = on(al2(AL2_510_X86), "enabled", NOTHING_INSTALLED);
        let pending = PendingDisable {
            window_id: "mw-0123456789abcdef0".into(),
            window_name: "livepatch-autopilot-disable-r-1".into(),
            start: "2026-12-04T03:00:00Z".parse().unwrap(),
        };
        f.pending_disable = Some(pending.clone());
        for now in [false, true] {
            assert_eq!(
                decide_disable(&f, now),
                DisableDecision::Skip(EnableSkip::AlreadyBooked(pending.clone()))
            );
        }
        assert!(EnableSkip::AlreadyBooked(pending)
            .to_string()
            .starts_with("already booked in mw-0123456789abcdef0 (livepatch-autopilot-disable-r-1) at 2026-12-04T03:00:00Z"));
    }

    #[test]
    fn rebooting_actions_wait_for_a_running_patch_run_and_others_do_not() {
        let mut f = on(al2(AL2_510_X86), "enabled", NOTHING_INSTALLED);
        f.patch_run = Some("c-patch".into());
        let waiting = EnableSkip::PatchRunInProgress {
            command_id: "c-patch".into(),
        };
        assert_eq!(waiting.to_string(), "patch run in progress: c-patch");
        assert_eq!(
            decide_disable(&f, true),
            DisableDecision::Skip(waiting.clone())
        );
        assert_eq!(
            decide_disable(&f, false),
            DisableDecision::InWindow { route: Route::Al2 },
            "the window runs later"
        );
        let mut old = al2(AL2_414_OLD);
        old.patch_run = Some("c-patch".into());
        assert_eq!(allowing_reboot(&old), EnableDecision::Skip(waiting));
        let mut al2023_on = on(al2023(AL2023_61), "enabled", NOTHING_INSTALLED);
        al2023_on.patch_run = Some("c-patch".into());
        assert!(matches!(
            decide_disable(&al2023_on, true),
            DisableDecision::Disable { reboots: false, .. }
        ));
        let mut plain = al2(AL2_510_X86);
        plain.patch_run = Some("c-patch".into());
        assert_eq!(decide(&plain), enable(Route::Al2), "no reboot, no wait");
    }
}
