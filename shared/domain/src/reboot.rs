//! Booking reboots before live patch support ends.
//!
//! A live patch never changes the running kernel (DOMAIN.md §1): once a kernel's support window
//! closes, only a reboot into a newer kernel keeps the instance patched. The planner turns kernel
//! facts, the product's own maintenance windows read back from SSM, a policy and "now" into the
//! windows to create, extend, shrink and delete, with one decision per instance. It never moves a
//! booking and never guesses: an instance it cannot judge gets no booking and a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::enable::{needs_reboot_to_enable, RebootReason};
use crate::facts::KernelFacts;
use crate::{
    livepatch_support, InstanceId, KernelRelease, LivePatchSupport, Platform, SupportWindow,
};

/// How far ahead the planner looks for a slot with room, at least.
pub const SEARCH_DAYS: i64 = 60;
/// A window that has run is dropped after this long even if some instance never reported fresh
/// kernel facts, so stopped instances cannot pin windows against the quota of 50 forever.
pub const KEEP_RUN_WINDOW_DAYS: i64 = 7;

const DAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// A reboot window setting or tag that cannot be read; always quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebootWindowError {
    #[error("reboot window {input:?} is not `DAYS HH:MM-HH:MM ZONE`, e.g. `SUN 03:00-05:00 Europe/Berlin`")]
    Shape { input: String },
    #[error("reboot window {input:?}: {day:?} is not a day or day range (MON..SUN, e.g. SAT,SUN or MON-FRI)")]
    Day { input: String, day: String },
    #[error("reboot window {input:?}: {times:?} is not HH:MM-HH:MM on a 24-hour clock (an end at or before the start means the next day)")]
    Times { input: String, times: String },
    #[error(
        "reboot window {input:?}: {zone:?} is not an IANA time zone such as Europe/Berlin or UTC"
    )]
    Zone { input: String, zone: String },
    #[error("reboot window {input:?} lasts {minutes} minutes: it must last whole hours, as an SSM maintenance window's Duration is in hours")]
    NotWholeHours { input: String, minutes: i32 },
}

/// A weekly time when reboots are allowed, e.g. `SAT,SUN 22:00-23:00 UTC` or
/// `MON-FRI 02:00-04:00 America/New_York`. Days name the day the window starts on; an end at or
/// before the start falls on the next day (`SAT 23:00-01:00`, `MON 03:00-03:00` is 24 hours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebootWindow {
    /// Bit 0 is Monday.
    days: u8,
    start: Time,
    end: Time,
    zone: String,
    tz: TimeZone,
}

fn parse_days(text: &str) -> Result<u8, String> {
    let index = |name: &str| DAYS.iter().position(|d| d.eq_ignore_ascii_case(name));
    let mut mask = 0u8;
    for item in text.split(',') {
        let bounds = match item.split_once('-') {
            Some((first, last)) => index(first).zip(index(last)),
            None => index(item).map(|d| (d, d)),
        };
        let (mut day, last) = bounds.ok_or_else(|| item.to_owned())?;
        // Ranges may wrap the week: FRI-MON is Friday to Monday.
        loop {
            mask |= 1 << day;
            if day == last {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    Ok(mask)
}

fn parse_clock(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    let digits =
        h.len() == 2 && m.len() == 2 && h.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit());
    if !digits {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

impl FromStr for RebootWindow {
    type Err = RebootWindowError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let owned = || input.to_owned();
        let parts: Vec<&str> = input.split_whitespace().collect();
        let [day_text, times, zone] = parts[..] else {
            return Err(RebootWindowError::Shape { input: owned() });
        };
        let days = parse_days(day_text).map_err(|day| RebootWindowError::Day {
            input: owned(),
            day,
        })?;
        let (start, end) = times
            .split_once('-')
            .and_then(|(s, e)| parse_clock(s).zip(parse_clock(e)))
            .ok_or_else(|| RebootWindowError::Times {
                input: owned(),
                times: times.to_owned(),
            })?;
        let minutes = {
            let (from, to) = (
                i32::from(start.hour()) * 60 + i32::from(start.minute()),
                i32::from(end.hour()) * 60 + i32::from(end.minute()),
            );
            if to > from {
                to - from
            } else {
                to - from + 24 * 60
            }
        };
        if minutes % 60 != 0 {
            return Err(RebootWindowError::NotWholeHours {
                input: owned(),
                minutes,
            });
        }
        let bad_zone = || RebootWindowError::Zone {
            input: owned(),
            zone: zone.to_owned(),
        };
        let tz = TimeZone::get(zone).map_err(|_| bad_zone())?;
        let zone = tz.iana_name().ok_or_else(bad_zone)?.to_owned();
        Ok(RebootWindow {
            days,
            start,
            end,
            zone,
            tz,
        })
    }
}

impl fmt::Display for RebootWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut day = 0;
        while day < 7 {
            if self.days & (1 << day) == 0 {
                day += 1;
                continue;
            }
            let mut last = day;
            while last < 6 && self.days & (1 << (last + 1)) != 0 {
                last += 1;
            }
            if last - day >= 2 {
                parts.push(format!("{}-{}", DAYS[day], DAYS[last]));
            } else {
                parts.extend(DAYS[day..=last].iter().map(|d| d.to_string()));
            }
            day = last + 1;
        }
        let clock = |t: Time| format!("{:02}:{:02}", t.hour(), t.minute());
        write!(
            f,
            "{} {}-{} {}",
            parts.join(","),
            clock(self.start),
            clock(self.end),
            self.zone
        )
    }
}

impl Serialize for RebootWindow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RebootWindow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl RebootWindow {
    /// The canonical IANA name of the window's time zone.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The window's slots that start in `[from, until)`, in order.
    ///
    /// Local times are resolved the "compatible" way: a start in a spring-forward gap moves past
    /// the gap, one in a fall-back fold takes the earlier instant. A day whose resolved end is
    /// not after its start (`02:00-03:00` on a spring-forward night) has no slot.
    pub fn slots_between(
        &self,
        from: Timestamp,
        until: Timestamp,
    ) -> impl Iterator<Item = Slot> + '_ {
        // A start pushed past a gap can land on the next local day: begin one day early.
        let first = self.tz.to_datetime(from).date();
        let first = first.yesterday().unwrap_or(first);
        let last = self.tz.to_datetime(until).date();
        first
            .series(1.day())
            .take_while(move |d| *d <= last)
            .filter_map(|d| self.slot_on(d))
            .filter(move |s| s.start >= from && s.start < until)
    }

    /// The longest gap, in days, from one day of the window to its next: 7 for a weekly window,
    /// 3 for `MON-FRI`, 1 for every day. A member of a group that cannot fit into one slot needs
    /// this much more lead per further slot.
    pub fn period_days(&self) -> i64 {
        (0..7)
            .filter(|d| self.days & (1 << d) != 0)
            .map(|d| {
                (1..=7)
                    .find(|gap| self.days & (1 << ((d + gap) % 7)) != 0)
                    .unwrap_or(7)
            })
            .max()
            .unwrap_or(7)
    }

    fn slot_on(&self, date: Date) -> Option<Slot> {
        if self.days & (1 << date.weekday().to_monday_zero_offset()) == 0 {
            return None;
        }
        let end_date = if self.end > self.start {
            date
        } else {
            date.tomorrow().ok()?
        };
        let resolve = |dt: DateTime| self.tz.to_ambiguous_timestamp(dt).compatible().ok();
        let start = resolve(date.to_datetime(self.start))?;
        let end = resolve(end_date.to_datetime(self.end))?;
        // On a day when the clocks change inside the window, its real length differs from its
        // local one, and SSM could read a repeated or missing local time otherwise than we do:
        // no slot that day, rather than a reboot at a time nobody allowed.
        let nominal = date
            .to_datetime(self.start)
            .duration_until(end_date.to_datetime(self.end));
        (end > start && start.duration_until(end) == nominal).then(|| Slot {
            start,
            end,
            window: self.clone(),
        })
    }
}

/// `Sunday 2027-01-10 03:00 Europe/Berlin`: when a reboot happens, as people there read it (UTC
/// for a zone the time zone database does not know).
pub fn local_time(at: Timestamp, zone: &str) -> String {
    let tz = TimeZone::get(zone).unwrap_or(TimeZone::UTC);
    format!(
        "{} {zone}",
        tz.to_datetime(at).strftime("%A %Y-%m-%d %H:%M")
    )
}

/// One occurrence of a [`RebootWindow`]: what an SSM maintenance window of the product books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
    pub window: RebootWindow,
}

impl Slot {
    /// The start on the window's local clock (what `at(...)` with `ScheduleTimezone` means).
    pub fn local_start(&self) -> DateTime {
        self.window.tz.to_datetime(self.start)
    }

    pub fn local_end(&self) -> DateTime {
        self.window.tz.to_datetime(self.end)
    }

    /// `Schedule` of the maintenance window, e.g. `at(2027-01-10T03:00:00)`; pair it with
    /// `ScheduleTimezone` = [`RebootWindow::zone`].
    pub fn schedule(&self) -> String {
        format!("at({})", self.local_start().strftime("%Y-%m-%dT%H:%M:%S"))
    }

    /// `Duration` of the maintenance window: whole hours, rounded up, 1 to 24.
    pub fn duration_hours(&self) -> u8 {
        let secs = self.end.duration_since(self.start).as_secs();
        ((secs + 3599) / 3600).clamp(1, 24) as u8
    }

    /// `Cutoff` of the maintenance window: no task starts after the first hour, so the reboot
    /// has the rest of the window to finish.
    pub fn cutoff_hours(&self) -> u8 {
        self.duration_hours() - 1
    }

    /// Stable name of the slot, e.g. `20270110T0300-0500-europe-berlin`: local start, local end
    /// and zone, in characters an SSM window name accepts. Equal keys are the same slot.
    pub fn key(&self) -> String {
        let zone: String = (self.window.zone.chars())
            .map(|c| match c {
                '/' => '-',
                '+' => 'p',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        let (start, end) = (self.local_start(), self.local_end());
        format!(
            "{}-{}-{zone}",
            start.strftime("%Y%m%dT%H%M"),
            end.strftime("%H%M")
        )
    }
}

/// Settings of the planner; check them with [`RebootPolicy::validate`] at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct RebootPolicy {
    /// Book instances whose support ends within this many days (UTC calendar days, as
    /// [`SupportWindow::days_left`] counts them). Instances that share a window with more
    /// instances of nearly the same cutoff than one slot takes get more: see [`plan_reboots`].
    pub lead_days: u32,
    /// A booked slot ends at least this many days before the cutoff.
    pub margin_days: u32,
    /// A booking is announced at least this many days before its slot, when a slot allows it.
    pub notice_days: u32,
    pub default_window: RebootWindow,
    pub max_per_slot: u32,
    /// At most `max(1, floor(fraction × group size))` members of one group per slot.
    pub max_group_fraction: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RebootPolicyError {
    #[error("max_per_slot must be 1 to 100 (targets one maintenance window takes), not {0}")]
    MaxPerSlot(u32),
    #[error("max_group_fraction must be above 0 and at most 1, not {0}")]
    GroupFraction(f64),
    #[error("margin_days ({margin}) must be less than lead_days ({lead})")]
    MarginNotBelowLead { margin: u32, lead: u32 },
}

impl RebootPolicy {
    /// The defaults: 21 days lead, 3 days margin, 7 days notice, 10 per slot, half a group.
    pub fn new(default_window: RebootWindow) -> Self {
        RebootPolicy {
            lead_days: 21,
            margin_days: 3,
            notice_days: 7,
            default_window,
            max_per_slot: 10,
            max_group_fraction: 0.5,
        }
    }

    pub fn validate(&self) -> Result<(), RebootPolicyError> {
        if !(1..=100).contains(&self.max_per_slot) {
            return Err(RebootPolicyError::MaxPerSlot(self.max_per_slot));
        }
        if !(self.max_group_fraction > 0.0 && self.max_group_fraction <= 1.0) {
            return Err(RebootPolicyError::GroupFraction(self.max_group_fraction));
        }
        if self.margin_days >= self.lead_days {
            return Err(RebootPolicyError::MarginNotBelowLead {
                margin: self.margin_days,
                lead: self.lead_days,
            });
        }
        Ok(())
    }

    fn group_cap(&self, size: usize) -> usize {
        // The epsilon keeps 0.29 × 100 at 29 despite binary floating point.
        ((self.max_group_fraction * size as f64 + 1e-9).floor() as usize).max(1)
    }
}

/// What the kernel facts say about live patch support of the running kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupportFact {
    /// The cutoff is [`SupportWindow::ended_at`]: the start of the day after `ends`, UTC.
    Ends(SupportWindow),
    /// Unparsable `uname -v`, no support date, a kernel the product does not know: why.
    Unknown(String),
    /// Live patching is off and turning it on here would install a kernel and reboot (AL2 4.14
    /// below the minimum; see `enable::needs_reboot_to_enable`): why. There is no cutoff, but
    /// only a reboot into a newer kernel lets `enable` turn live patching on without one, so the
    /// instance is booked into the earliest slot with notice, after those with a cutoff.
    RebootToEnable(String),
}

impl SupportFact {
    /// What an instance's kernel facts say, refusing to guess: a kernel the product does not
    /// know, one without live patches, facts without a collection time or a support date are
    /// `Unknown` with the reason. Live patching off on an AL2 kernel below the minimum (where
    /// enabling would reboot, unless `enable_allow_reboot`) is `RebootToEnable`.
    pub fn of(platform: &Platform, facts: &KernelFacts, enable_allow_reboot: bool) -> Self {
        let kernel: KernelRelease = match facts.kernel_release.parse() {
            Ok(kernel) => kernel,
            Err(err) => {
                return Self::Unknown(format!(
                    "running kernel {:?} is not one the product knows: {err}",
                    facts.kernel_release
                ))
            }
        };
        // `enable` leaves live patching off where turning it on would reboot (unless it may): a
        // booked reboot into a newer kernel lets it enable without one.
        if !facts.live_patching_on() && !enable_allow_reboot {
            if let Some(RebootReason::BelowMinimum { minimum, .. }) =
                needs_reboot_to_enable(platform, &kernel)
            {
                return Self::RebootToEnable(format!(
                    "below {}-{}, the oldest kernel on which live patching is enabled without a reboot",
                    minimum.version(),
                    minimum.release()
                ));
            }
        }
        match livepatch_support(platform, &kernel) {
            LivePatchSupport::Supported => {}
            LivePatchSupport::BelowMinimum { minimum } => {
                return Self::Unknown(format!(
                    "kernel {kernel} is below {minimum}, the oldest with live patches"
                ))
            }
            LivePatchSupport::NoLivePatches { reason } => return Self::Unknown(reason),
        }
        if facts.collected_at.parse::<Timestamp>().is_err() {
            return Self::Unknown(format!(
                "kernel facts carry no valid collection time ({:?})",
                facts.collected_at
            ));
        }
        match facts.support_end() {
            Ok(ends) => Self::Ends(SupportWindow::new(ends)),
            Err(err) => Self::Unknown(err),
        }
    }

    /// The support window, when the facts give one.
    pub fn window(&self) -> Option<SupportWindow> {
        match self {
            Self::Ends(support) => Some(*support),
            Self::Unknown(_) | Self::RebootToEnable(_) => None,
        }
    }
}

/// One managed instance as the kernel facts and its tags describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct RebootCandidate {
    pub instance: InstanceId,
    pub name: String,
    /// `uname -r`.
    pub kernel: String,
    pub support: SupportFact,
    /// When the kernel facts were collected: facts older than a window that ran say nothing
    /// about whether it rebooted the instance.
    pub facts_at: Timestamp,
    pub group: Option<String>,
    /// The window tag, read or rejected.
    pub window_override: Option<Result<RebootWindow, String>>,
    pub opted_out: bool,
    pub live_patching: bool,
}

/// An instance in a booking, with its kernel when booked (`None` if that was not recorded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BookedInstance {
    pub instance: InstanceId,
    pub kernel: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BookingState {
    Booked,
    Executed { ended_at: Timestamp },
}

/// A maintenance window of the product, as read back from SSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Booking {
    pub key: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub instances: Vec<BookedInstance>,
    pub state: BookingState,
}

impl Booking {
    /// When the window was over, if it is: executed, or past its end without a recorded run.
    pub fn over_at(&self, now: Timestamp) -> Option<Timestamp> {
        match self.state {
            BookingState::Executed { ended_at } => Some(ended_at),
            BookingState::Booked => (self.end <= now).then_some(self.end),
        }
    }
}

/// How a new booking relates to the instance's cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Urgency {
    /// Ends by cutoff − margin and starts at least the notice period from now.
    InTime,
    /// Ends by cutoff − margin, but no such slot with room starts after the notice period.
    ShortNotice,
    /// No slot with room ends by cutoff − margin: the earliest slot with room.
    NoSlotBeforeCutoff,
    /// Support has already ended: the earliest slot with room.
    PastCutoff,
}

/// What the planner decided for one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RebootDecision {
    NotLivePatched,
    OptedOut,
    /// No booking and a warning; a booking not started yet is withdrawn (never a guess that reboots).
    Unplannable {
        reason: String,
    },
    /// A window holding it has run, and no kernel facts were collected since.
    AwaitingFacts {
        key: String,
    },
    NotDue {
        support_end: Date,
    },
    AlreadyBooked {
        key: String,
        start: Timestamp,
    },
    /// Newly booked. `previous`: a window that ran, after which it still runs the same kernel.
    Booked {
        slot: Slot,
        fallback: Option<Slot>,
        urgency: Urgency,
        previous: Option<String>,
    },
}

impl fmt::Display for RebootDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotLivePatched => f.write_str("live patching is off; no reboot is planned"),
            Self::OptedOut => f.write_str("opted out by tag; never rebooted by the product"),
            Self::Unplannable { reason } => write!(f, "no reboot booked: {reason}"),
            Self::AwaitingFacts { key } => {
                write!(
                    f,
                    "window {key} has run; waiting for kernel facts collected after it"
                )
            }
            Self::NotDue { support_end } => {
                write!(f, "live patches until {support_end}; no reboot due")
            }
            Self::AlreadyBooked { key, start } => {
                write!(f, "reboot booked in window {key} at {start}")
            }
            Self::Booked {
                slot,
                fallback,
                urgency,
                previous,
            } => {
                write!(
                    f,
                    "reboot booked in window {} at {}",
                    slot.key(),
                    slot.start
                )?;
                if let Some(previous) = previous {
                    write!(
                        f,
                        "; window {previous} ran but it still runs the same kernel"
                    )?;
                }
                match urgency {
                    Urgency::InTime => {}
                    Urgency::ShortNotice => {
                        f.write_str("; short notice: no later slot with room")?
                    }
                    Urgency::NoSlotBeforeCutoff => {
                        f.write_str("; no slot with room before its cutoff")?
                    }
                    Urgency::PastCutoff => f.write_str("; live patch support has already ended")?,
                }
                match fallback {
                    Some(fallback) => write!(f, "; next chance {}", fallback.start),
                    None => Ok(()),
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceDecision {
    pub instance: InstanceId,
    pub name: String,
    pub decision: RebootDecision,
}

/// Instances for one slot, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewBooking {
    pub key: String,
    pub slot: Slot,
    pub instances: Vec<BookedInstance>,
}

/// Take `instance` out of the not yet started window `key`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Withdrawal {
    pub key: String,
    pub instance: InstanceId,
}

/// The changes to the product's windows, each list sorted, and a decision per instance (id order).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RebootPlan {
    /// New maintenance windows.
    pub create: Vec<NewBooking>,
    /// More targets for existing windows of the same key.
    pub extend: Vec<NewBooking>,
    pub withdraw: Vec<Withdrawal>,
    /// Windows to delete: run and settled, or not started and no longer needed by anyone.
    pub remove: Vec<String>,
    /// Booked windows starting in `(now, now + 24h]`; the adapter marks each as reminded.
    pub reminders: Vec<String>,
    pub decisions: Vec<InstanceDecision>,
}

impl RebootPlan {
    /// True when carrying out the plan writes nothing.
    pub fn changes_nothing(&self) -> bool {
        self.create.is_empty()
            && self.extend.is_empty()
            && self.withdraw.is_empty()
            && self.remove.is_empty()
    }

    /// Adds `extra` withdrawals (such as [`withdraw_unseen`]'s) and deletes every window not yet
    /// started that the withdrawals leave empty, instead of shrinking it to no target. Each
    /// withdrawal stays listed, also from a window deleted, since it is what people are told.
    pub fn add_withdrawals(
        &mut self,
        extra: impl IntoIterator<Item = Withdrawal>,
        bookings: &[Booking],
        now: Timestamp,
    ) {
        self.withdraw.extend(extra);
        self.withdraw.sort();
        self.withdraw.dedup();
        let withdrawn = |b: &Booking, i: &BookedInstance| {
            self.withdraw
                .iter()
                .any(|w| w.key == b.key && w.instance == i.instance)
        };
        let emptied: Vec<String> = bookings
            .iter()
            .filter(|b| b.start > now && b.over_at(now).is_none())
            .filter(|b| !self.extend.iter().any(|e| e.key == b.key))
            .filter(|b| b.instances.iter().all(|i| withdrawn(b, i)))
            .map(|b| b.key.clone())
            .collect();
        self.remove.extend(emptied);
        self.remove.sort();
        self.remove.dedup();
        let remove = &self.remove;
        self.reminders.retain(|k| !remove.contains(k));
    }

    /// Withdrawals that shrink a window kept: those from a window deleted need no call.
    pub fn withdrawals_to_make(&self) -> impl Iterator<Item = &Withdrawal> {
        self.withdraw
            .iter()
            .filter(|w| !self.remove.contains(&w.key))
    }

    /// The bookings SSM holds once the plan is carried out (for simulations and dry runs).
    pub fn apply(&self, bookings: &[Booking]) -> Vec<Booking> {
        let mut out: Vec<Booking> = bookings
            .iter()
            .filter(|b| !self.remove.contains(&b.key))
            .cloned()
            .collect();
        for b in &mut out {
            let key = b.key.clone();
            b.instances.retain(|i| {
                !self
                    .withdraw
                    .iter()
                    .any(|w| w.key == key && w.instance == i.instance)
            });
            for extra in self.extend.iter().filter(|e| e.key == key) {
                b.instances.extend(extra.instances.iter().cloned());
            }
        }
        out.extend(self.create.iter().map(|n| Booking {
            key: n.key.clone(),
            start: n.slot.start,
            end: n.slot.end,
            instances: n.instances.clone(),
            state: BookingState::Booked,
        }));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

enum Step<'a> {
    Done(RebootDecision),
    /// Decided, and any booking not yet started is given up.
    Release(RebootDecision),
    Due {
        window: &'a RebootWindow,
        /// When live patch support ends; `None` for a reboot that lets live patching be enabled.
        cutoff: Option<Timestamp>,
        previous: Option<String>,
    },
}

/// Days of lead of one instance: `due` books it, `keep` holds a booking made for the kernel it
/// still runs (at least `due`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lead {
    due: i64,
    keep: i64,
}

/// The support end and window of an instance the planner may book, if it may.
fn plannable<'a>(
    c: &'a RebootCandidate,
    policy: &'a RebootPolicy,
) -> Option<(SupportWindow, &'a RebootWindow)> {
    let SupportFact::Ends(support) = &c.support else {
        return None;
    };
    let window = match &c.window_override {
        None => &policy.default_window,
        Some(Ok(window)) => window,
        Some(Err(_)) => return None,
    };
    (c.live_patching && !c.opted_out).then_some((*support, window))
}

/// The lead of every plannable instance (others are absent), from support ends and tags alone,
/// never from bookings or the clock, so that a plan applied and planned again stays as it is.
///
/// Per window (slots `P` = [`RebootWindow::period_days`] apart) instances are taken by (cutoff,
/// id). Each gets the smallest `w ≥ 0` for which, among those taken before it, fewer than
/// `max_per_slot` — and fewer than the group cap of its own group — are due in the `P` days up to
/// its due day `support end − lead_days − w × P`; it is due from `lead_days + w × P` days left.
/// Members of one group with one cutoff and a cap of `k` thus come due `P` days apart, `k` at a
/// time, and each finds a slot with notice before its cutoff. `w` never exceeds
/// `floor((n_group − 1) / k_group) + floor((n_window − 1) / max_per_slot)` (each step up needs a
/// full cap in its own `P` days); that bound is the `keep` lead, so a booking made early is not
/// given up when an instance taken before it reboots first. A due day from which no slot would
/// start the notice period later and end the margin before the cutoff (a slot dropped on a day
/// the clocks change, or a lead too short for notice and margin) moves one period earlier too,
/// at most [`MAX_STEPS_WITHOUT_SLOT`] times.
fn leads<'a>(
    cands: &[&'a RebootCandidate],
    group_sizes: &BTreeMap<&str, usize>,
    policy: &RebootPolicy,
) -> BTreeMap<&'a InstanceId, Lead> {
    let epoch = jiff::civil::date(1970, 1, 1);
    let day_number = |d: Date| epoch.duration_until(d).as_secs() / 86_400;
    // Window → (the window, members with their support end).
    type Members<'a> = Vec<(Date, &'a RebootCandidate)>;
    let mut windows: BTreeMap<String, (&RebootWindow, Members<'a>)> = BTreeMap::new();
    for c in cands {
        if let Some((support, window)) = plannable(c, policy) {
            let entry = windows
                .entry(window.to_string())
                .or_insert_with(|| (window, Vec::new()));
            entry.1.push((support.ends, *c));
        }
    }
    let lead = i64::from(policy.lead_days);
    let slot_cap = policy.max_per_slot.max(1) as usize;
    let mut out = BTreeMap::new();
    for (window, mut members) in windows.into_values() {
        let period = window.period_days();
        members.sort_by(|a, b| (a.0, &a.1.instance).cmp(&(b.0, &b.1.instance)));
        let mut in_window: BTreeMap<Option<&str>, usize> = BTreeMap::new();
        for (_, c) in &members {
            *in_window.entry(c.group.as_deref()).or_default() += 1;
        }
        // (due day, group) of the members taken so far.
        let mut taken: Vec<(i64, Option<&str>)> = Vec::with_capacity(members.len());
        for (ends, c) in &members {
            let group = c.group.as_deref();
            let group_cap = group.map(|g| policy.group_cap(group_sizes[g]));
            let cutoff = SupportWindow::new(*ends).ended_at();
            let ends = day_number(*ends);
            let mut w = 0;
            let mut without_slot = 0;
            let due_day = loop {
                let day = ends - lead - w * period;
                let near = || taken.iter().filter(|(d, _)| *d > day - period && *d <= day);
                let full = near().count() >= slot_cap
                    || group_cap
                        .is_some_and(|cap| near().filter(|(_, g)| *g == group).count() >= cap);
                if !full {
                    if without_slot >= MAX_STEPS_WITHOUT_SLOT
                        || has_slot_with_notice(window, epoch, day, cutoff, policy)
                    {
                        break day;
                    }
                    without_slot += 1;
                }
                w += 1;
            };
            taken.push((due_day, group));
            let group_steps = match (group, group_cap) {
                (Some(_), Some(cap)) => (in_window[&group] - 1) / cap,
                _ => 0,
            };
            let window_steps = (members.len() - 1) / slot_cap;
            let bound = (group_steps + window_steps) as i64;
            out.insert(
                &c.instance,
                Lead {
                    due: lead + w * period,
                    keep: lead + bound.max(w) * period,
                },
            );
        }
    }
    out
}

/// Periods a lead may grow by because no slot with notice would be left (see [`leads`]).
const MAX_STEPS_WITHOUT_SLOT: u32 = 4;

/// Whether a slot of `window` starts at least the notice period after the end of day `day`
/// (days since `epoch`, UTC: whichever run of that day first finds the instance due) and ends
/// the margin before `cutoff`. A slot dropped on a day the clocks change can leave none.
fn has_slot_with_notice(
    window: &RebootWindow,
    epoch: Date,
    day: i64,
    cutoff: Timestamp,
    policy: &RebootPolicy,
) -> bool {
    let Some(next_day) = epoch
        .checked_add(SignedDuration::from_hours(24 * (day + 1)))
        .ok()
        .and_then(|d| d.to_zoned_datetime(TimeZone::UTC).ok())
    else {
        return true;
    };
    let from = next_day.timestamp() + days(policy.notice_days.into());
    let limit = cutoff - days(policy.margin_days.into());
    window
        .slots_between(from, limit)
        .any(|slot| slot.end <= limit)
}

fn first_pass<'a>(
    c: &'a RebootCandidate,
    kept: Option<&Booking>,
    ran: Option<(&Booking, Timestamp)>,
    lead: Lead,
    policy: &'a RebootPolicy,
    now: Timestamp,
) -> Step<'a> {
    use RebootDecision::*;
    let to_enable = matches!(c.support, SupportFact::RebootToEnable(_));
    if !c.live_patching && !to_enable {
        return Step::Release(NotLivePatched);
    }
    if c.opted_out {
        return Step::Release(OptedOut);
    }
    let support = match &c.support {
        SupportFact::Ends(support) => Some(*support),
        SupportFact::RebootToEnable(_) => None,
        SupportFact::Unknown(why) => {
            return Step::Done(Unplannable {
                reason: format!("live patch support end unknown: {why}"),
            })
        }
    };
    let window = match &c.window_override {
        None => &policy.default_window,
        Some(Ok(window)) => window,
        Some(Err(why)) => {
            return Step::Done(Unplannable {
                reason: format!("invalid reboot window tag: {why}"),
            })
        }
    };
    // A booking made for the kernel the instance still runs stands while its longest lead covers it.
    let held = kept.is_some_and(|b| {
        let booked = b.instances.iter().find(|i| i.instance == c.instance);
        booked
            .and_then(|i| i.kernel.as_deref())
            .is_none_or(|k| k == c.kernel)
    });
    let lead = if held { lead.keep } else { lead.due };
    if let Some(support) = support.filter(|s| s.days_left(now) > lead) {
        return Step::Release(NotDue {
            support_end: support.ends,
        });
    }
    if let Some(b) = kept {
        return Step::Done(AlreadyBooked {
            key: b.key.clone(),
            start: b.start,
        });
    }
    let previous = match ran {
        None => None,
        Some((b, over)) if c.facts_at < over => {
            return Step::Done(AwaitingFacts { key: b.key.clone() })
        }
        Some((b, _)) => {
            let booked = b.instances.iter().find(|i| i.instance == c.instance);
            let kernel = booked.and_then(|i| i.kernel.as_deref());
            kernel.is_none_or(|k| k == c.kernel).then(|| b.key.clone())
        }
    };
    Step::Due {
        window,
        cutoff: support.map(|s| s.ended_at()),
        previous,
    }
}

#[derive(Default)]
struct Load {
    total: usize,
    groups: BTreeMap<String, usize>,
}

type Choice = (Slot, Option<Slot>, Urgency);

/// Earliest slot with room, preferring: in time with notice and a fallback, in time with notice,
/// in time with a fallback, in time; then anything (late).
fn choose(
    slots: &[(String, Slot)],
    room: impl Fn(&str) -> bool,
    cutoff: Option<Timestamp>,
    policy: &RebootPolicy,
    now: Timestamp,
) -> Option<Choice> {
    // Without a cutoff every slot is in time.
    let limit = cutoff.map_or(Timestamp::MAX, |c| c - days(policy.margin_days.into()));
    let notice = now + days(policy.notice_days.into());
    let fallback = |s: &Slot| {
        slots
            .iter()
            .map(|(_, f)| f)
            .find(|f| f.start >= s.end && f.end <= limit)
            .cloned()
    };
    let open: Vec<&Slot> = slots
        .iter()
        .filter(|(k, s)| s.start > now && room(k))
        .map(|(_, s)| s)
        .collect();
    for (with_notice, with_fallback) in [(true, true), (true, false), (false, true), (false, false)]
    {
        let hit = open.iter().find(|s| {
            s.end <= limit
                && (!with_notice || s.start >= notice)
                && (!with_fallback || fallback(s).is_some())
        });
        if let Some(s) = hit {
            let urgency = if with_notice {
                Urgency::InTime
            } else {
                Urgency::ShortNotice
            };
            return Some(((*s).clone(), fallback(s), urgency));
        }
    }
    let urgency = if cutoff.is_some_and(|c| now >= c) {
        Urgency::PastCutoff
    } else {
        Urgency::NoSlotBeforeCutoff
    };
    open.first().map(|s| ((*s).clone(), None, urgency))
}

/// Decides the reboots: `candidates` from the kernel facts, `bookings` the product's windows.
///
/// Rules, in order per instance: live patching off or opted out → given up from windows not yet
/// started; unknown support or an invalid window tag → no booking; not due (more than its lead
/// left: `lead_days`, plus a window period per further slot its group or window needs; a
/// booking made for the kernel it still runs is held up to the longest such lead)
/// → given up likewise; in a window not yet over → kept where it is; in a
/// window that ran, with facts older than its end → wait; else booked, candidates taken by
/// (cutoff, id), into the earliest slot with room: in time with notice and a fallback, in time
/// with notice, in time (short notice), else the earliest at all. "In time" ends by
/// cutoff − `margin_days`; notice starts `notice_days` from now; a fallback is a later slot of the
/// same window also in time (reported, not booked, and not counted against the caps).
///
/// The lead, per window (slots `P` = [`RebootWindow::period_days`] apart): plannable instances
/// are taken by (cutoff, id), each with the smallest `w ≥ 0` such that fewer than `max_per_slot`
/// of those taken before it, and fewer than its group cap of its group, fall due in the `P` days
/// up to its own due day; it is due from `lead_days + w × P` days left. So `r` members of a group
/// with one cutoff and a cap of `k` come due `floor(r / k)` periods early and each finds a slot
/// with notice. The lead depends on support ends and tags only, never on bookings or the clock.
/// Withdrawals for instances in windows that have not started but that the planner no longer
/// sees among `candidates` (out of scope, facts gone, deregistered): nobody can say they should
/// still reboot. Kept apart from [`plan_reboots`], which plans only what it is shown.
pub fn withdraw_unseen(
    candidates: &[RebootCandidate],
    bookings: &[Booking],
    now: Timestamp,
) -> Vec<Withdrawal> {
    let seen: BTreeSet<&InstanceId> = candidates.iter().map(|c| &c.instance).collect();
    let mut out: Vec<Withdrawal> = bookings
        .iter()
        .filter(|b| b.start > now && b.over_at(now).is_none())
        .flat_map(|b| {
            b.instances
                .iter()
                .filter(|i| !seen.contains(&i.instance))
                .map(|i| Withdrawal {
                    key: b.key.clone(),
                    instance: i.instance.clone(),
                })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

pub fn plan_reboots(
    candidates: &[RebootCandidate],
    bookings: &[Booking],
    policy: &RebootPolicy,
    now: Timestamp,
) -> RebootPlan {
    let mut seen = BTreeSet::new();
    let mut cands: Vec<&RebootCandidate> = candidates
        .iter()
        .filter(|c| seen.insert(&c.instance))
        .collect();
    cands.sort_by(|a, b| a.instance.cmp(&b.instance));
    let by_id: BTreeMap<&InstanceId, &RebootCandidate> =
        cands.iter().map(|c| (&c.instance, *c)).collect();
    let mut group_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for g in cands.iter().filter_map(|c| c.group.as_deref()) {
        *group_sizes.entry(g).or_default() += 1;
    }
    let leads = leads(&cands, &group_sizes, policy);

    let mut pending: BTreeMap<&InstanceId, Vec<&Booking>> = BTreeMap::new();
    let mut ran: BTreeMap<&InstanceId, (&Booking, Timestamp)> = BTreeMap::new();
    for b in bookings {
        for i in &b.instances {
            match b.over_at(now) {
                None => pending.entry(&i.instance).or_default().push(b),
                Some(over) => {
                    let latest = ran.entry(&i.instance).or_insert((b, over));
                    if (over, &b.key) > (latest.1, &latest.0.key) {
                        *latest = (b, over);
                    }
                }
            }
        }
    }
    for list in pending.values_mut() {
        list.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
    }

    let mut withdraw: BTreeSet<Withdrawal> = BTreeSet::new();
    let mut decided: Vec<Option<RebootDecision>> = Vec::with_capacity(cands.len());
    let mut due = Vec::new();
    for (index, c) in cands.iter().enumerate() {
        let mine = pending
            .get(&c.instance)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut give_up = |b: &Booking| {
            withdraw.insert(Withdrawal {
                key: b.key.clone(),
                instance: c.instance.clone(),
            })
        };
        // Duplicates (a half-applied earlier run): the earliest booking wins.
        for b in mine.iter().skip(1).filter(|b| b.start > now) {
            give_up(b);
        }
        let mut kept = mine.first().copied();
        // A booking that is no slot of the instance's window any more (its window tag changed)
        // is given up and planned again: it would reboot at a time the tag no longer allows.
        let window_now = match &c.window_override {
            None => Some(&policy.default_window),
            Some(Ok(window)) => Some(window),
            Some(Err(_)) => None,
        };
        if let (Some(b), Some(window)) = (kept, window_now) {
            let margin = SignedDuration::from_mins(1);
            let still_a_slot = window
                .slots_between(b.start - margin, b.start + margin)
                .any(|slot| slot.key() == b.key);
            if !still_a_slot && b.start > now {
                give_up(b);
                kept = None;
            }
        }
        let lead = leads.get(&c.instance).copied().unwrap_or(Lead {
            due: i64::from(policy.lead_days),
            keep: i64::from(policy.lead_days),
        });
        match first_pass(c, kept, ran.get(&c.instance).copied(), lead, policy, now) {
            // Facts or a window tag that can no longer be read: never a guess that reboots.
            Step::Done(d @ RebootDecision::Unplannable { .. }) => {
                if let Some(b) = kept.filter(|b| b.start > now) {
                    give_up(b);
                }
                decided.push(Some(d));
            }
            Step::Done(d) => decided.push(Some(d)),
            Step::Release(d) => {
                if let Some(b) = kept.filter(|b| b.start > now) {
                    give_up(b);
                }
                decided.push(Some(d));
            }
            Step::Due {
                window,
                cutoff,
                previous,
            } => {
                decided.push(None);
                due.push((cutoff, *c, index, window, previous));
            }
        }
    }
    let withdrawn = |b: &Booking, i: &InstanceId| {
        withdraw.contains(&Withdrawal {
            key: b.key.clone(),
            instance: i.clone(),
        })
    };

    let mut loads: BTreeMap<String, Load> = BTreeMap::new();
    for b in bookings.iter().filter(|b| b.over_at(now).is_none()) {
        let load = loads.entry(b.key.clone()).or_default();
        for i in b.instances.iter().filter(|i| !withdrawn(b, &i.instance)) {
            load.total += 1;
            if let Some(g) = by_id.get(&i.instance).and_then(|c| c.group.clone()) {
                *load.groups.entry(g).or_default() += 1;
            }
        }
    }

    let horizon_days = SEARCH_DAYS.max(i64::from(policy.lead_days) + 1);
    let horizon = now + days(horizon_days);
    let mut slot_cache: BTreeMap<String, Vec<(String, Slot)>> = BTreeMap::new();
    let mut assigned: BTreeMap<String, (Slot, Vec<BookedInstance>)> = BTreeMap::new();
    // Earliest cutoff first; reboots to enable live patching (no cutoff) after all of them.
    due.sort_by(|a, b| {
        (a.0.is_none(), a.0, &a.1.instance).cmp(&(b.0.is_none(), b.0, &b.1.instance))
    });
    for (cutoff, c, index, window, previous) in due {
        let slots = slot_cache.entry(window.to_string()).or_insert_with(|| {
            window
                .slots_between(now, horizon)
                .map(|s| (s.key(), s))
                .collect()
        });
        let group_cap = c
            .group
            .as_deref()
            .map(|g| (g, policy.group_cap(group_sizes[g])));
        let room = |key: &str| {
            let load = loads.get(key);
            let total = load.map_or(0, |l| l.total);
            let in_group = |g: &str| load.and_then(|l| l.groups.get(g)).copied().unwrap_or(0);
            total < policy.max_per_slot as usize
                && group_cap.is_none_or(|(g, cap)| in_group(g) < cap)
        };
        let decision = match choose(slots, room, cutoff, policy, now) {
            None => RebootDecision::Unplannable {
                reason: format!(
                    "no slot of window {window} with room in the next {horizon_days} days"
                ),
            },
            Some((slot, fallback, urgency)) => {
                let key = slot.key();
                let load = loads.entry(key.clone()).or_default();
                load.total += 1;
                if let Some(g) = &c.group {
                    *load.groups.entry(g.clone()).or_default() += 1;
                }
                let entry = assigned
                    .entry(key)
                    .or_insert_with(|| (slot.clone(), Vec::new()));
                entry.1.push(BookedInstance {
                    instance: c.instance.clone(),
                    kernel: Some(c.kernel.clone()),
                });
                RebootDecision::Booked {
                    slot,
                    fallback,
                    urgency,
                    previous,
                }
            }
        };
        decided[index] = Some(decision);
    }

    let mut plan = RebootPlan::default();
    let open: Vec<&Booking> = bookings
        .iter()
        .filter(|b| b.over_at(now).is_none() && b.start > now)
        .collect();
    for (key, (slot, mut instances)) in assigned {
        instances.sort();
        let list = if open.iter().any(|b| b.key == key) {
            &mut plan.extend
        } else {
            &mut plan.create
        };
        list.push(NewBooking {
            key,
            slot,
            instances,
        });
    }
    for b in bookings {
        let Some(over) = b.over_at(now) else { continue };
        let unsettled = b
            .instances
            .iter()
            .any(|i| by_id.get(&i.instance).is_some_and(|c| c.facts_at < over));
        if !unsettled || now >= over + days(KEEP_RUN_WINDOW_DAYS) {
            plan.remove.push(b.key.clone());
        }
    }
    plan.reminders = (open.iter())
        .filter(|b| b.start <= now + days(1))
        .map(|b| b.key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    plan.add_withdrawals(withdraw, bookings, now);
    for list in [&mut plan.create, &mut plan.extend] {
        list.sort_by(|a, b| (a.slot.start, &a.key).cmp(&(b.slot.start, &b.key)));
    }
    plan.decisions = cands
        .iter()
        .zip(decided)
        .map(|(c, d)| InstanceDecision {
            instance: c.instance.clone(),
            name: c.name.clone(),
            decision: d.expect("every candidate is decided"),
        })
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const NOW: &str = "2027-01-01T06:00:00Z"; // a Friday
    const KERNEL: &str = "6.1.100-100.100.amzn2023.x86_64";

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn now() -> Timestamp {
        ts(NOW)
    }

    fn window(s: &str) -> RebootWindow {
        s.parse().unwrap()
    }

    fn id(n: u32) -> InstanceId {
        format!("i-{n:017x}").parse().unwrap()
    }

    fn policy() -> RebootPolicy {
        RebootPolicy::new(window("SUN 03:00-05:00 UTC"))
    }

    fn cand(n: u32, ends: Date) -> RebootCandidate {
        RebootCandidate {
            instance: id(n),
            name: format!("host-{n}"),
            kernel: KERNEL.into(),
            support: SupportFact::Ends(SupportWindow::new(ends)),
            facts_at: ts("2027-01-01T01:00:00Z"),
            group: None,
            window_override: None,
            opted_out: false,
            live_patching: true,
        }
    }

    fn grouped(n: u32, ends: Date, group: &str) -> RebootCandidate {
        RebootCandidate {
            group: Some(group.into()),
            ..cand(n, ends)
        }
    }

    fn plan(cands: &[RebootCandidate], bookings: &[Booking]) -> RebootPlan {
        plan_reboots(cands, bookings, &policy(), now())
    }

    fn decision(plan: &RebootPlan, n: u32) -> &RebootDecision {
        &plan
            .decisions
            .iter()
            .find(|d| d.instance == id(n))
            .unwrap()
            .decision
    }

    /// (slot start, fallback start, urgency, previous) of a new booking.
    fn booked(
        plan: &RebootPlan,
        n: u32,
    ) -> (Timestamp, Option<Timestamp>, Urgency, Option<String>) {
        match decision(plan, n) {
            RebootDecision::Booked {
                slot,
                fallback,
                urgency,
                previous,
            } => (
                slot.start,
                fallback.as_ref().map(|f| f.start),
                *urgency,
                previous.clone(),
            ),
            other => panic!("host {n} not booked: {other:?}"),
        }
    }

    fn booking(key: &str, start: &str, hours: i64, ids: &[u32]) -> Booking {
        let start = ts(start);
        Booking {
            key: key.into(),
            start,
            end: start + SignedDuration::from_hours(hours),
            instances: ids
                .iter()
                .map(|&n| BookedInstance {
                    instance: id(n),
                    kernel: Some(KERNEL.into()),
                })
                .collect(),
            state: BookingState::Booked,
        }
    }

    /// The slot of `w` starting on local `day`, as (start, end).
    fn slot_on(w: &str, day: Date) -> Option<Slot> {
        let w = window(w);
        let from = day.to_zoned_datetime(TimeZone::UTC).unwrap().timestamp() - days(1);
        let found = w
            .slots_between(from, from + days(3))
            .find(|s| s.local_start().date() == day);
        found
    }

    #[test]
    fn local_times_read_as_people_there_read_them() {
        let at = ts("2027-01-10T02:00:00Z");
        assert_eq!(
            local_time(at, "Europe/Berlin"),
            "Sunday 2027-01-10 03:00 Europe/Berlin"
        );
        assert_eq!(
            local_time(ts("2027-07-11T01:00:00Z"), "Europe/Berlin"),
            "Sunday 2027-07-11 03:00 Europe/Berlin"
        );
        assert_eq!(local_time(at, "UTC"), "Sunday 2027-01-10 02:00 UTC");
    }

    #[test]
    fn parses_windows_and_displays_them_canonically() {
        let cases = [
            (
                "SUN 03:00-05:00 Europe/Berlin",
                "SUN 03:00-05:00 Europe/Berlin",
            ),
            ("sat,sun 22:00-23:00 UTC", "SAT,SUN 22:00-23:00 UTC"),
            (
                "MON-FRI 02:00-04:00 america/new_york",
                "MON-FRI 02:00-04:00 America/New_York",
            ),
            ("FRI-MON 01:00-02:00 UTC", "MON,FRI-SUN 01:00-02:00 UTC"),
            (
                "MON,TUE,WED,SUN 00:00-00:00 Asia/Kolkata",
                "MON-WED,SUN 00:00-00:00 Asia/Kolkata",
            ),
            ("SAT 23:00-01:00 UTC", "SAT 23:00-01:00 UTC"),
            (
                "SUN,SUN,sun-Sun 03:00-05:00 Etc/GMT+5",
                "SUN 03:00-05:00 Etc/GMT+5",
            ),
            ("  TUE   03:00-05:00\tUTC ", "TUE 03:00-05:00 UTC"),
        ];
        for (input, shown) in cases {
            let w = window(input);
            assert_eq!(w.to_string(), shown, "{input}");
            assert_eq!(window(shown), w, "{input}");
        }
        let w = window("SAT,SUN 22:00-23:00 UTC");
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#""SAT,SUN 22:00-23:00 UTC""#);
        assert_eq!(serde_json::from_str::<RebootWindow>(&json).unwrap(), w);
        assert!(serde_json::from_str::<RebootWindow>(r#""SUN 3-5 UTC""#).is_err());
        assert_eq!(
            window("SUN 03:00-05:00 europe/berlin").zone(),
            "Europe/Berlin"
        );
    }

    #[test]
    fn window_errors_say_what_is_wrong() {
        use RebootWindowError as E;
        let shape = |s: &str| E::Shape { input: s.into() };
        let day = |s: &str, d: &str| E::Day {
            input: s.into(),
            day: d.into(),
        };
        let times = |s: &str, t: &str| E::Times {
            input: s.into(),
            times: t.into(),
        };
        let zone = |s: &str, z: &str| E::Zone {
            input: s.into(),
            zone: z.into(),
        };
        let cases = [
            ("", shape("")),
            ("SUN 03:00-05:00", shape("SUN 03:00-05:00")),
            ("SUN 03:00 - 05:00 UTC", shape("SUN 03:00 - 05:00 UTC")),
            (
                "SUNDAY 03:00-05:00 UTC",
                day("SUNDAY 03:00-05:00 UTC", "SUNDAY"),
            ),
            (
                "SAT,,SUN 03:00-05:00 UTC",
                day("SAT,,SUN 03:00-05:00 UTC", ""),
            ),
            (
                "MON-XYZ 03:00-05:00 UTC",
                day("MON-XYZ 03:00-05:00 UTC", "MON-XYZ"),
            ),
            (
                "MON-TUE-WED 03:00-05:00 UTC",
                day("MON-TUE-WED 03:00-05:00 UTC", "MON-TUE-WED"),
            ),
            (
                "SUN 3:00-05:00 UTC",
                times("SUN 3:00-05:00 UTC", "3:00-05:00"),
            ),
            (
                "SUN 03:00-24:00 UTC",
                times("SUN 03:00-24:00 UTC", "03:00-24:00"),
            ),
            (
                "SUN 03:60-05:00 UTC",
                times("SUN 03:60-05:00 UTC", "03:60-05:00"),
            ),
            ("SUN 0300-0500 UTC", times("SUN 0300-0500 UTC", "0300-0500")),
            (
                "SUN 03:00-+5:00 UTC",
                times("SUN 03:00-+5:00 UTC", "03:00-+5:00"),
            ),
            (
                "SUN 03:00-05:00 Mars/Olympus",
                zone("SUN 03:00-05:00 Mars/Olympus", "Mars/Olympus"),
            ),
            (
                "SUN 03:00-05:00 +02:00",
                zone("SUN 03:00-05:00 +02:00", "+02:00"),
            ),
        ];
        for (input, expected) in cases {
            let err = input.parse::<RebootWindow>().unwrap_err();
            assert_eq!(err, expected, "{input}");
            let text = err.to_string();
            assert!(text.contains(&format!("{input:?}")), "{text}");
        }
        let text = "SUN 03:00-05:00 Mars/Olympus"
            .parse::<RebootWindow>()
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("\"Mars/Olympus\" is not an IANA time zone"),
            "{text}"
        );
    }

    #[test]
    fn weekly_slots_carry_what_the_maintenance_window_needs() {
        let w = window("SUN 03:00-05:00 Europe/Berlin");
        let slots: Vec<Slot> = w
            .slots_between(ts("2027-01-04T00:00:00Z"), ts("2027-01-25T00:00:00Z"))
            .collect();
        let starts: Vec<Timestamp> = slots.iter().map(|s| s.start).collect();
        let expected = [
            "2027-01-10T02:00:00Z",
            "2027-01-17T02:00:00Z",
            "2027-01-24T02:00:00Z",
        ]
        .map(ts);
        assert_eq!(starts, expected);
        let first = &slots[0];
        assert_eq!(first.end, ts("2027-01-10T04:00:00Z"));
        assert_eq!(first.key(), "20270110T0300-0500-europe-berlin");
        assert_eq!(first.schedule(), "at(2027-01-10T03:00:00)");
        assert_eq!(first.window.zone(), "Europe/Berlin");
        assert_eq!((first.duration_hours(), first.cutoff_hours()), (2, 1));
        // [from, until): a slot starting at `until` is left out, one starting at `from` is in.
        let at = ts("2027-01-10T02:00:00Z");
        assert_eq!(
            w.slots_between(at, at + SignedDuration::from_secs(1))
                .count(),
            1
        );
        assert_eq!(w.slots_between(at - days(7), at).count(), 1);
        assert_eq!(
            window("SAT,SUN 22:00-23:00 UTC")
                .slots_between(at, at + days(14))
                .count(),
            4
        );
        assert_eq!(
            window("MON-FRI 02:00-04:00 UTC")
                .slots_between(at, at + days(7))
                .count(),
            5
        );
        let key = slot_on("SUN 03:00-05:00 Etc/GMT+5", date(2027, 1, 10))
            .unwrap()
            .key();
        assert_eq!(key, "20270110T0300-0500-etc-gmtp5");
    }

    #[test]
    fn slots_across_daylight_saving_changes() {
        // (window, local day, expected start and end in UTC, SSM duration hours)
        let kept = [
            // Europe/Berlin springs forward 2027-03-28 02:00 -> 03:00; 03:00-05:00 is after it.
            (
                "SUN 03:00-05:00 Europe/Berlin",
                date(2027, 3, 21),
                "2027-03-21T02:00:00Z",
                "2027-03-21T04:00:00Z",
                2,
            ),
            (
                "SUN 03:00-05:00 Europe/Berlin",
                date(2027, 3, 28),
                "2027-03-28T01:00:00Z",
                "2027-03-28T03:00:00Z",
                2,
            ),
            // Europe/Berlin falls back 2026-10-25 03:00 -> 02:00; 03:00-05:00 is after it.
            (
                "SUN 03:00-05:00 Europe/Berlin",
                date(2026, 10, 18),
                "2026-10-18T01:00:00Z",
                "2026-10-18T03:00:00Z",
                2,
            ),
            (
                "SUN 03:00-05:00 Europe/Berlin",
                date(2026, 10, 25),
                "2026-10-25T02:00:00Z",
                "2026-10-25T04:00:00Z",
                2,
            ),
            // America/New_York springs forward 2027-03-14 and falls back 2026-11-01, both at 02:00.
            (
                "SUN 03:00-05:00 America/New_York",
                date(2027, 3, 14),
                "2027-03-14T07:00:00Z",
                "2027-03-14T09:00:00Z",
                2,
            ),
            (
                "SUN 02:00-04:00 America/New_York",
                date(2027, 3, 7),
                "2027-03-07T07:00:00Z",
                "2027-03-07T09:00:00Z",
                2,
            ),
            (
                "SUN 02:00-04:00 America/New_York",
                date(2026, 11, 8),
                "2026-11-08T07:00:00Z",
                "2026-11-08T09:00:00Z",
                2,
            ),
        ];
        for (w, day, start, end, hours) in kept {
            let slot = slot_on(w, day).unwrap_or_else(|| panic!("{w} on {day}"));
            assert_eq!((slot.start, slot.end), (ts(start), ts(end)), "{w} on {day}");
            assert_eq!(slot.duration_hours(), hours, "{w} on {day}");
            assert_eq!(
                slot.start.duration_until(slot.end).as_hours(),
                i64::from(hours)
            );
        }
        // A window the clock change falls inside is skipped that day (its real length differs,
        // and a repeated or missing local time could be read otherwise by SSM); the weeks around
        // it keep their slots.
        let skipped = [
            ("SUN 01:00-03:00 Europe/Berlin", date(2027, 3, 28)),
            ("SUN 02:00-04:00 Europe/Berlin", date(2027, 3, 28)),
            ("SUN 02:00-03:00 Europe/Berlin", date(2027, 3, 28)),
            ("SUN 02:00-04:00 Europe/Berlin", date(2026, 10, 25)),
            ("SUN 00:00-00:00 Europe/Berlin", date(2026, 10, 25)),
            ("SUN 02:00-04:00 America/New_York", date(2027, 3, 14)),
            ("SUN 01:00-03:00 America/New_York", date(2026, 11, 1)),
            ("SAT 23:00-03:00 America/New_York", date(2026, 10, 31)),
        ];
        for (w, day) in skipped {
            assert!(slot_on(w, day).is_none(), "{w} on {day}");
            assert!(
                slot_on(w, day - 7.days()).is_some(),
                "{w} a week before {day}"
            );
            assert!(
                slot_on(w, day + 7.days()).is_some(),
                "{w} a week after {day}"
            );
        }
    }

    #[test]
    fn slots_crossing_midnight_and_month_ends() {
        let cases = [
            (
                "SAT 23:00-01:00 UTC",
                date(2027, 1, 30),
                "2027-01-30T23:00:00Z",
                "2027-01-31T01:00:00Z",
                "20270130T2300-0100-utc",
            ),
            (
                "SUN 23:00-01:00 UTC",
                date(2027, 1, 31),
                "2027-01-31T23:00:00Z",
                "2027-02-01T01:00:00Z",
                "20270131T2300-0100-utc",
            ),
            (
                "TUE 22:00-02:00 Asia/Tokyo",
                date(2028, 2, 29),
                "2028-02-29T13:00:00Z",
                "2028-02-29T17:00:00Z",
                "20280229T2200-0200-asia-tokyo",
            ),
            (
                "THU 22:00-00:00 UTC",
                date(2026, 12, 31),
                "2026-12-31T22:00:00Z",
                "2027-01-01T00:00:00Z",
                "20261231T2200-0000-utc",
            ),
            (
                "MON 03:00-03:00 UTC",
                date(2027, 2, 1),
                "2027-02-01T03:00:00Z",
                "2027-02-02T03:00:00Z",
                "20270201T0300-0300-utc",
            ),
        ];
        for (w, day, start, end, key) in cases {
            let slot = slot_on(w, day).unwrap_or_else(|| panic!("{w}"));
            assert_eq!(
                (slot.start, slot.end, slot.key()),
                (ts(start), ts(end), key.to_owned()),
                "{w}"
            );
        }
        let full_day = slot_on("MON 03:00-03:00 UTC", date(2027, 2, 1)).unwrap();
        assert_eq!(
            (full_day.duration_hours(), full_day.cutoff_hours()),
            (24, 23)
        );
        let short = slot_on("MON 03:00-04:00 UTC", date(2027, 2, 1)).unwrap();
        assert_eq!((short.duration_hours(), short.cutoff_hours()), (1, 0));
        assert!(matches!(
            "MON 03:00-03:01 UTC".parse::<RebootWindow>(),
            Err(RebootWindowError::NotWholeHours { minutes: 1, .. })
        ));
        // A support end on the last day of February: cutoff at the start of March 1st, UTC.
        let p = plan(&[cand(1, date(2027, 2, 28))], &[]);
        assert!(matches!(decision(&p, 1), RebootDecision::NotDue { .. }));
        let p = plan_reboots(
            &[cand(1, date(2027, 2, 28))],
            &[],
            &policy(),
            ts("2027-02-07T00:00:00Z"),
        );
        // Slots: Feb 14 (fallback Feb 21, which ends Feb 21 05:00 <= Feb 26 00:00).
        assert_eq!(
            booked(&p, 1),
            (
                ts("2027-02-14T03:00:00Z"),
                Some(ts("2027-02-21T03:00:00Z")),
                Urgency::InTime,
                None
            )
        );
    }

    #[test]
    fn books_in_time_with_a_fallback() {
        let p = plan(&[cand(1, date(2027, 1, 22))], &[]);
        assert_eq!(
            booked(&p, 1),
            (
                ts("2027-01-10T03:00:00Z"),
                Some(ts("2027-01-17T03:00:00Z")),
                Urgency::InTime,
                None
            )
        );
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.create[0].key, "20270110T0300-0500-utc");
        assert_eq!(
            p.create[0].instances,
            vec![BookedInstance {
                instance: id(1),
                kernel: Some(KERNEL.into())
            }]
        );
        assert!(
            p.extend.is_empty()
                && p.withdraw.is_empty()
                && p.remove.is_empty()
                && p.reminders.is_empty()
        );
        let text = decision(&p, 1).to_string();
        assert!(
            text.contains("20270110T0300-0500-utc")
                && text.contains("next chance 2027-01-17T03:00:00Z"),
            "{text}"
        );
    }

    #[test]
    fn lead_time_boundary() {
        // 21 days left (Jan 1 -> Jan 22) is due; 22 is not.
        let p = plan(
            &[cand(1, date(2027, 1, 22)), cand(2, date(2027, 1, 23))],
            &[],
        );
        assert!(matches!(decision(&p, 1), RebootDecision::Booked { .. }));
        assert_eq!(
            decision(&p, 2),
            &RebootDecision::NotDue {
                support_end: date(2027, 1, 23)
            }
        );
        let late_in_day = plan_reboots(
            &[cand(2, date(2027, 1, 23))],
            &[],
            &policy(),
            ts("2027-01-01T23:59:59Z"),
        );
        assert!(matches!(
            decision(&late_in_day, 2),
            RebootDecision::NotDue { .. }
        ));
        let next_day = plan_reboots(
            &[cand(2, date(2027, 1, 23))],
            &[],
            &policy(),
            ts("2027-01-02T00:00:00Z"),
        );
        assert!(matches!(
            decision(&next_day, 2),
            RebootDecision::Booked { .. }
        ));
    }

    #[test]
    fn margin_boundary() {
        // Support ends Jan 19: cutoff Jan 20 00:00 UTC, so slots must end by Jan 17 00:00.
        let jan = |d: u32, hm: &str| ts(&format!("2027-01-{d:02}T{hm}:00Z"));
        let cases = [
            (
                "SAT 22:00-00:00 UTC",
                NOW,
                jan(9, "22:00"),
                Some(jan(16, "22:00")),
                Urgency::InTime,
            ),
            (
                "SAT 22:01-00:01 UTC",
                NOW,
                jan(9, "22:01"),
                None,
                Urgency::InTime,
            ),
            (
                "SAT 22:00-00:00 UTC",
                "2027-01-09T06:00:00Z",
                jan(16, "22:00"),
                None,
                Urgency::InTime,
            ),
            (
                "SAT 22:01-00:01 UTC",
                "2027-01-09T06:00:00Z",
                jan(9, "22:01"),
                None,
                Urgency::ShortNotice,
            ),
            (
                "SAT 22:01-00:01 UTC",
                "2027-01-10T06:00:00Z",
                jan(16, "22:01"),
                None,
                Urgency::NoSlotBeforeCutoff,
            ),
        ];
        for (w, at, start, fallback, urgency) in cases {
            let p = RebootPolicy::new(window(w));
            let plan = plan_reboots(&[cand(1, date(2027, 1, 19))], &[], &p, ts(at));
            assert_eq!(
                booked(&plan, 1),
                (start, fallback, urgency, None),
                "{w} at {at}"
            );
        }
    }

    #[test]
    fn notice_boundary() {
        // Only the Jan 10 slot ends by cutoff - margin (Jan 11 00:00).
        let c = [cand(1, date(2027, 1, 13))];
        let exactly = plan_reboots(&c, &[], &policy(), ts("2027-01-03T03:00:00Z"));
        assert_eq!(
            booked(&exactly, 1),
            (ts("2027-01-10T03:00:00Z"), None, Urgency::InTime, None)
        );
        let later = plan_reboots(&c, &[], &policy(), ts("2027-01-03T03:01:00Z"));
        assert_eq!(
            booked(&later, 1),
            (ts("2027-01-10T03:00:00Z"), None, Urgency::ShortNotice, None)
        );
        // A slot with notice wins over an earlier one without; a short-notice slot beats none.
        let p = plan(&[cand(1, date(2027, 1, 15))], &[]);
        assert_eq!(
            booked(&p, 1),
            (ts("2027-01-10T03:00:00Z"), None, Urgency::InTime, None)
        );
        let p = plan(&[cand(1, date(2027, 1, 9))], &[]);
        assert_eq!(
            booked(&p, 1),
            (ts("2027-01-03T03:00:00Z"), None, Urgency::ShortNotice, None)
        );
    }

    #[test]
    fn slot_cap_spills_into_the_next_slot_earliest_cutoff_first() {
        let mut cands: Vec<RebootCandidate> =
            (1..=11).map(|n| cand(n, date(2027, 1, 22))).collect();
        cands.push(cand(12, date(2027, 1, 21)));
        let p = plan(&cands, &[]);
        let ids = |k: usize| {
            p.create[k]
                .instances
                .iter()
                .map(|i| i.instance.clone())
                .collect::<Vec<_>>()
        };
        let first: Vec<InstanceId> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12].map(id).to_vec();
        assert_eq!(p.create.len(), 2);
        assert_eq!(
            (p.create[0].slot.start, ids(0)),
            (ts("2027-01-10T03:00:00Z"), first)
        );
        assert_eq!(
            (p.create[1].slot.start, ids(1)),
            (ts("2027-01-17T03:00:00Z"), vec![id(10), id(11)])
        );
        assert_eq!(
            booked(&p, 11),
            (ts("2027-01-17T03:00:00Z"), None, Urgency::InTime, None)
        );
        // Existing bookings count: a full slot is skipped.
        let full = booking(
            "20270110T0300-0500-utc",
            "2027-01-10T03:00:00Z",
            2,
            &[21, 22, 23, 24, 25, 26, 27, 28, 29, 30],
        );
        let p = plan(&[cand(1, date(2027, 1, 22))], &[full]);
        assert_eq!(booked(&p, 1).0, ts("2027-01-17T03:00:00Z"));
    }

    #[test]
    fn group_cap_keeps_part_of_each_group_running() {
        let web: Vec<RebootCandidate> = (1..=4)
            .map(|n| grouped(n, date(2027, 1, 22), "web"))
            .collect();
        let mut all = web.clone();
        all.push(grouped(5, date(2027, 1, 22), "solo"));
        let p = plan(&all, &[]);
        let start = |n| booked(&p, n).0;
        assert_eq!([1, 2, 5].map(start), [ts("2027-01-10T03:00:00Z"); 3]);
        assert_eq!([3, 4].map(start), [ts("2027-01-17T03:00:00Z"); 2]);
        // Members already booked count against the cap of their slot.
        let existing = booking("20270110T0300-0500-utc", "2027-01-10T03:00:00Z", 2, &[1, 2]);
        let p = plan(&web, &[existing]);
        assert!(matches!(
            decision(&p, 1),
            RebootDecision::AlreadyBooked { .. }
        ));
        assert_eq!(
            [3, 4].map(|n| booked(&p, n).0),
            [ts("2027-01-17T03:00:00Z"); 2]
        );
        assert_eq!(p.extend, vec![]);
        // A whole group may go at once when the policy says so.
        let everyone = RebootPolicy {
            max_group_fraction: 1.0,
            ..policy()
        };
        let p = plan_reboots(&web, &[], &everyone, now());
        assert_eq!(p.create.len(), 1);
        for (fraction, size, cap) in [
            (0.5, 4, 2),
            (0.5, 1, 1),
            (0.5, 3, 1),
            (0.29, 100, 29),
            (1.0, 7, 7),
            (0.1, 5, 1),
        ] {
            let p = RebootPolicy {
                max_group_fraction: fraction,
                ..policy()
            };
            assert_eq!(p.group_cap(size), cap, "{fraction} x {size}");
        }
    }

    #[test]
    fn late_instances_take_the_earliest_slot_with_room() {
        let p = plan(
            &[cand(1, date(2026, 12, 20)), cand(2, date(2027, 1, 3))],
            &[],
        );
        assert_eq!(
            booked(&p, 1),
            (ts("2027-01-03T03:00:00Z"), None, Urgency::PastCutoff, None)
        );
        assert_eq!(
            booked(&p, 2),
            (
                ts("2027-01-03T03:00:00Z"),
                None,
                Urgency::NoSlotBeforeCutoff,
                None
            )
        );
        assert!(decision(&p, 1).to_string().contains("already ended"));
        let one = RebootPolicy {
            max_per_slot: 1,
            ..policy()
        };
        let p = plan_reboots(
            &[cand(1, date(2026, 12, 20)), cand(2, date(2026, 12, 21))],
            &[],
            &one,
            now(),
        );
        assert_eq!(booked(&p, 1).0, ts("2027-01-03T03:00:00Z"));
        assert_eq!(booked(&p, 2).0, ts("2027-01-10T03:00:00Z"));
        // No room anywhere within the horizon: a warning, not a guess.
        let window_once = "SUN 03:00-05:00 UTC";
        let full: Vec<Booking> = window(window_once)
            .slots_between(now(), now() + days(70))
            .map(|s| Booking {
                key: s.key(),
                start: s.start,
                end: s.end,
                instances: vec![BookedInstance {
                    instance: id(99),
                    kernel: None,
                }],
                state: BookingState::Booked,
            })
            .collect();
        let p = plan_reboots(&[cand(1, date(2026, 12, 20))], &full, &one, now());
        let RebootDecision::Unplannable { reason } = decision(&p, 1) else {
            panic!("{p:?}")
        };
        assert!(
            reason.contains("no slot of window SUN 03:00-05:00 UTC with room in the next 60 days"),
            "{reason}"
        );
    }

    #[test]
    fn instances_left_alone_say_why() {
        let due = date(2027, 1, 10);
        let opted = RebootCandidate {
            opted_out: true,
            ..cand(1, due)
        };
        let off = RebootCandidate {
            live_patching: false,
            ..cand(2, due)
        };
        let unknown = RebootCandidate {
            support: SupportFact::Unknown("no build date in `uname -v` output \"#1 SMP\"".into()),
            ..cand(3, due)
        };
        let bad_tag = RebootCandidate {
            window_override: Some(Err("reboot window \"SUNDAY\" is not ...".into())),
            ..cand(4, due)
        };
        let p = plan(&[opted, off, unknown, bad_tag], &[]);
        assert!(p.changes_nothing());
        assert_eq!(decision(&p, 1), &RebootDecision::OptedOut);
        assert_eq!(decision(&p, 2), &RebootDecision::NotLivePatched);
        let reason = |n| match decision(&p, n) {
            RebootDecision::Unplannable { reason } => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert!(
            reason(3).starts_with("live patch support end unknown: no build date"),
            "{}",
            reason(3)
        );
        assert!(
            reason(4).starts_with("invalid reboot window tag: reboot window \"SUNDAY\""),
            "{}",
            reason(4)
        );
        assert!(decision(&p, 3)
            .to_string()
            .starts_with("no reboot booked: "));
        assert_eq!(
            p.decisions
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>(),
            ["host-1", "host-2", "host-3", "host-4"]
        );
    }

    #[test]
    fn a_window_tag_overrides_the_default() {
        let c = RebootCandidate {
            window_override: Some(Ok(window("WED 01:00-02:00 UTC"))),
            ..cand(1, date(2027, 1, 22))
        };
        let p = plan(&[c], &[]);
        assert_eq!(
            booked(&p, 1),
            (ts("2027-01-13T01:00:00Z"), None, Urgency::InTime, None)
        );
        assert_eq!(p.create[0].key, "20270113T0100-0200-utc");
        assert_eq!(p.create[0].slot.window, window("WED 01:00-02:00 UTC"));
    }

    #[test]
    fn existing_bookings_are_kept_and_extended_never_moved() {
        let key = "20270110T0300-0500-utc";
        let existing = booking(key, "2027-01-10T03:00:00Z", 2, &[1]);
        // Even a slot past cutoff - margin stays: moving it would only shuffle announced reboots.
        let late = booking("20270124T0300-0500-utc", "2027-01-24T03:00:00Z", 2, &[3]);
        let p = plan(
            &[
                cand(1, date(2027, 1, 22)),
                cand(2, date(2027, 1, 22)),
                cand(3, date(2027, 1, 15)),
            ],
            &[existing.clone(), late],
        );
        assert_eq!(
            decision(&p, 1),
            &RebootDecision::AlreadyBooked {
                key: key.into(),
                start: existing.start
            }
        );
        assert!(matches!(
            decision(&p, 3),
            RebootDecision::AlreadyBooked { .. }
        ));
        assert!(p.create.is_empty());
        assert_eq!(p.extend.len(), 1);
        assert_eq!(
            (
                p.extend[0].key.as_str(),
                p.extend[0].instances[0].instance.clone()
            ),
            (key, id(2))
        );
    }

    #[test]
    fn bookings_no_longer_needed_are_given_up() {
        let jan10 = "20270110T0300-0500-utc";
        let jan17 = "20270117T0300-0500-utc";
        let running = "20270101T0500-0700-utc";
        let bookings = [
            booking(jan10, "2027-01-10T03:00:00Z", 2, &[1, 2, 5, 9]),
            booking(jan17, "2027-01-17T03:00:00Z", 2, &[3, 5]),
            booking("20270124T0300-0500-utc", "2027-01-24T03:00:00Z", 2, &[4]),
            booking(running, "2027-01-01T05:00:00Z", 2, &[6]),
        ];
        let due = date(2027, 1, 20);
        let cands = [
            RebootCandidate {
                opted_out: true,
                ..cand(1, due)
            },
            cand(2, due),
            cand(3, date(2027, 4, 1)),
            RebootCandidate {
                live_patching: false,
                ..cand(4, due)
            },
            cand(5, due),
            RebootCandidate {
                opted_out: true,
                ..cand(6, due)
            },
        ];
        let p = plan(&cands, &bookings);
        // 9 has no facts now: it stays booked. 5 keeps its earliest booking only. Windows left
        // empty are deleted rather than shrunk, and their cancellations are still listed.
        let w = |key: &str, n: u32| Withdrawal {
            key: key.into(),
            instance: id(n),
        };
        assert_eq!(
            p.withdraw,
            vec![
                w(jan10, 1),
                w(jan17, 3),
                w(jan17, 5),
                w("20270124T0300-0500-utc", 4)
            ]
        );
        assert_eq!(p.withdrawals_to_make().collect::<Vec<_>>(), [&w(jan10, 1)]);
        assert_eq!(
            p.remove,
            vec![jan17.to_owned(), "20270124T0300-0500-utc".to_owned()]
        );
        assert_eq!(
            decision(&p, 3),
            &RebootDecision::NotDue {
                support_end: date(2027, 4, 1)
            }
        );
        assert_eq!(
            decision(&p, 5),
            &RebootDecision::AlreadyBooked {
                key: jan10.into(),
                start: ts("2027-01-10T03:00:00Z")
            }
        );
        // A window that has started is left alone until it is over.
        assert_eq!(decision(&p, 6), &RebootDecision::OptedOut);
        assert!(!p.withdraw.iter().any(|w| w.key == running));
        // A slot given up is reused rather than deleted when someone new needs it.
        let p = plan(
            &[cand(3, date(2027, 4, 1)), cand(7, date(2027, 1, 22))],
            &[booking(jan10, "2027-01-10T03:00:00Z", 2, &[3])],
        );
        assert!(p.remove.is_empty() && p.create.is_empty());
        assert_eq!(
            p.withdraw,
            vec![Withdrawal {
                key: jan10.into(),
                instance: id(3)
            }]
        );
        assert_eq!(p.extend[0].key, jan10);
    }

    #[test]
    fn reminders_go_to_windows_starting_within_a_day() {
        let bookings = [
            booking("running", NOW, 2, &[1]),
            booking("soon", "2027-01-01T06:00:01Z", 2, &[2]),
            booking("in-24h", "2027-01-02T06:00:00Z", 2, &[3]),
            booking("later", "2027-01-02T06:00:01Z", 2, &[4]),
        ];
        let p = plan(&[], &bookings);
        assert_eq!(p.reminders, vec!["in-24h".to_owned(), "soon".to_owned()]);
        assert!(p.changes_nothing());
    }

    #[test]
    fn a_window_that_ran_is_settled_rebooked_or_awaited() {
        let key = "20261227T0300-0500-utc";
        let ran = |ids: &[u32], state| Booking {
            state,
            ..booking(key, "2026-12-27T03:00:00Z", 2, ids)
        };
        let executed = BookingState::Executed {
            ended_at: ts("2026-12-27T03:40:00Z"),
        };
        let same_kernel = cand(1, date(2026, 12, 31));
        let newer = RebootCandidate {
            kernel: "6.1.120-1.1.amzn2023.x86_64".into(),
            ..cand(2, date(2027, 3, 27))
        };
        let p = plan(
            &[same_kernel.clone(), newer.clone()],
            &[ran(&[1, 2], executed)],
        );
        assert_eq!(
            booked(&p, 1),
            (
                ts("2027-01-03T03:00:00Z"),
                None,
                Urgency::PastCutoff,
                Some(key.into())
            )
        );
        assert!(decision(&p, 1)
            .to_string()
            .contains("window 20261227T0300-0500-utc ran but it still runs the same kernel"));
        assert_eq!(
            decision(&p, 2),
            &RebootDecision::NotDue {
                support_end: date(2027, 3, 27)
            }
        );
        assert_eq!(p.remove, vec![key.to_owned()]);
        // The same when no run was recorded and the window is simply over, or the kernel was not recorded.
        let mut unrecorded = ran(&[1], BookingState::Booked);
        unrecorded.instances[0].kernel = None;
        let p = plan(std::slice::from_ref(&same_kernel), &[unrecorded]);
        assert_eq!(booked(&p, 1).3, Some(key.into()));
        // Facts from before the window ended say nothing: wait for the next scan, keep the window.
        let stale = RebootCandidate {
            facts_at: ts("2026-12-27T03:30:00Z"),
            ..same_kernel.clone()
        };
        let p = plan(&[stale.clone(), newer], &[ran(&[1, 2], executed)]);
        assert_eq!(
            decision(&p, 1),
            &RebootDecision::AwaitingFacts { key: key.into() }
        );
        assert!(p.changes_nothing());
        // ... but not forever.
        let week_later = plan_reboots(
            &[stale],
            &[ran(&[1], executed)],
            &policy(),
            ts("2027-01-03T03:40:00Z"),
        );
        assert_eq!(week_later.remove, vec![key.to_owned()]);
        // Rebooted into a kernel that is itself due: an ordinary booking, not a repeat.
        let due_again = RebootCandidate {
            kernel: "6.1.101-1.1.amzn2023.x86_64".into(),
            ..cand(1, date(2027, 1, 22))
        };
        let p = plan(&[due_again], &[ran(&[1], executed)]);
        assert_eq!(booked(&p, 1).3, None);
    }

    #[test]
    fn planning_is_idempotent() {
        let bookings = [
            booking("20270110T0300-0500-utc", "2027-01-10T03:00:00Z", 2, &[1, 7]),
            Booking {
                state: BookingState::Executed {
                    ended_at: ts("2026-12-27T03:40:00Z"),
                },
                ..booking("20261227T0300-0500-utc", "2026-12-27T03:00:00Z", 2, &[8])
            },
        ];
        let cands = [
            cand(1, date(2027, 1, 22)),
            grouped(2, date(2027, 1, 22), "web"),
            grouped(3, date(2027, 1, 20), "web"),
            grouped(4, date(2027, 1, 25), "web"),
            cand(5, date(2026, 12, 1)),
            RebootCandidate {
                opted_out: true,
                ..cand(7, date(2027, 1, 22))
            },
            cand(8, date(2026, 12, 31)),
            RebootCandidate {
                window_override: Some(Ok(window("MON-FRI 02:00-04:00 America/New_York"))),
                ..cand(9, date(2027, 1, 14))
            },
        ];
        let first = plan(&cands, &bookings);
        let mut reversed = cands.to_vec();
        reversed.reverse();
        assert_eq!(plan(&reversed, &bookings), first);
        assert!(!first.changes_nothing());
        let applied = first.apply(&bookings);
        let second = plan(&cands, &applied);
        assert!(second.changes_nothing(), "{second:#?}");
        assert_eq!(second.apply(&applied), applied);
        for (a, b) in first.decisions.iter().zip(&second.decisions) {
            if let RebootDecision::Booked { slot, .. } = &a.decision {
                assert_eq!(
                    b.decision,
                    RebootDecision::AlreadyBooked {
                        key: slot.key(),
                        start: slot.start
                    },
                    "{}",
                    a.instance
                );
            } else {
                assert_eq!(a, b);
            }
        }
    }

    /// Plans once a day at 06:00 UTC from `from` for `n` days, carrying out every plan, and
    /// returns each new booking as (instance, day told, slot, urgency). Every plan is the same for
    /// reversed input and leaves nothing to do when planned again on the bookings it made.
    fn daily(
        cands: &[RebootCandidate],
        policy: &RebootPolicy,
        from: &str,
        n: i64,
    ) -> Vec<(InstanceId, Timestamp, Slot, Urgency)> {
        let mut bookings: Vec<Booking> = Vec::new();
        let mut made = Vec::new();
        let mut reversed = cands.to_vec();
        reversed.reverse();
        for day in 0..n {
            let now = ts(from) + days(day);
            let p = plan_reboots(cands, &bookings, policy, now);
            assert_eq!(plan_reboots(&reversed, &bookings, policy, now), p);
            assert!(
                p.withdraw.is_empty() && p.remove.is_empty(),
                "{now}: {p:#?}"
            );
            for d in &p.decisions {
                if let RebootDecision::Booked { slot, urgency, .. } = &d.decision {
                    made.push((d.instance.clone(), now, slot.clone(), *urgency));
                }
            }
            bookings = p.apply(&bookings);
            let again = plan_reboots(cands, &bookings, policy, now);
            assert!(again.changes_nothing(), "{now}: {again:#?}");
        }
        made
    }

    fn due_leads(cands: &[RebootCandidate], policy: &RebootPolicy) -> Vec<(u32, i64, i64)> {
        let refs: Vec<&RebootCandidate> = cands.iter().collect();
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for g in cands.iter().filter_map(|c| c.group.as_deref()) {
            *sizes.entry(g).or_default() += 1;
        }
        let leads = leads(&refs, &sizes, policy);
        (1..=cands.len() as u32 + 1)
            .filter_map(|n| leads.get(&id(n)).map(|l| (n, l.due, l.keep)))
            .collect()
    }

    /// Each booking in time, announced at least the notice ahead, ending by cutoff − margin.
    fn all_in_time(made: &[(InstanceId, Timestamp, Slot, Urgency)], cutoff: Timestamp) {
        for (instance, told, slot, urgency) in made {
            assert_eq!(*urgency, Urgency::InTime, "{instance} in {}", slot.key());
            assert!(slot.start.duration_since(*told) >= days(7), "{instance}");
            assert!(slot.end <= cutoff - days(3), "{instance}");
        }
    }

    #[test]
    fn window_period_is_the_longest_gap_between_its_days() {
        for (w, period) in [
            ("SUN 03:00-05:00 UTC", 7),
            ("SAT 23:00-01:00 UTC", 7),
            ("MON-FRI 02:00-04:00 UTC", 3),
            ("SAT,SUN 22:00-23:00 UTC", 6),
            ("MON,THU 01:00-02:00 UTC", 4),
            ("MON-SUN 01:00-02:00 UTC", 1),
            ("FRI-MON 01:00-02:00 UTC", 4),
        ] {
            assert_eq!(window(w).period_days(), period, "{w}");
        }
    }

    #[test]
    fn two_of_a_group_with_one_cutoff_and_a_cap_of_one_both_get_notice() {
        // Support ends Tue Jan 26: cutoff Jan 27 00:00, slots must end by Jan 24 00:00. At 21 days
        // left (Jan 5) only the Jan 17 slot is both a week away and in time: one of the two comes
        // due a week earlier (28 days left, Dec 29) and takes Jan 10.
        let ends = date(2027, 1, 26);
        let cutoff = SupportWindow::new(ends).ended_at();
        let pair = [grouped(1, ends, "batch"), grouped(2, ends, "batch")];
        assert_eq!(policy().group_cap(2), 1);
        assert_eq!(due_leads(&pair, &policy()), [(1, 21, 28), (2, 28, 28)]);
        let made = daily(&pair, &policy(), "2026-12-20T06:00:00Z", 20);
        all_in_time(&made, cutoff);
        let summary: Vec<(InstanceId, Timestamp, Timestamp)> = made
            .iter()
            .map(|(i, told, s, _)| (i.clone(), *told, s.start))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    id(2),
                    ts("2026-12-29T06:00:00Z"),
                    ts("2027-01-10T03:00:00Z")
                ),
                (
                    id(1),
                    ts("2027-01-05T06:00:00Z"),
                    ts("2027-01-17T03:00:00Z")
                ),
            ]
        );
        // The boundary: 29 days left is not due yet, 28 is.
        let at = |s: &str| plan_reboots(&pair, &[], &policy(), ts(s));
        let p = at("2026-12-28T23:59:59Z");
        assert!(matches!(decision(&p, 2), RebootDecision::NotDue { .. }));
        let p = at("2026-12-29T00:00:00Z");
        assert_eq!(
            booked(&p, 2),
            (
                ts("2027-01-10T03:00:00Z"),
                Some(ts("2027-01-17T03:00:00Z")),
                Urgency::InTime,
                None
            )
        );
        assert!(matches!(decision(&p, 1), RebootDecision::NotDue { .. }));
        // Without the earlier start the second would have been booked at short notice: both due
        // the same day, one slot with notice.
        let p = at("2027-01-05T06:00:00Z");
        assert_eq!(booked(&p, 1).0, ts("2027-01-17T03:00:00Z"));
        assert_eq!(
            booked(&p, 2),
            (
                ts("2027-01-10T03:00:00Z"),
                Some(ts("2027-01-17T03:00:00Z")),
                Urgency::ShortNotice,
                None
            )
        );
    }

    #[test]
    fn a_group_of_four_with_a_cap_of_two_comes_due_two_at_a_time() {
        let ends = date(2027, 1, 26);
        let web: Vec<RebootCandidate> = (1..=4).map(|n| grouped(n, ends, "web")).collect();
        assert_eq!(
            due_leads(&web, &policy()),
            [(1, 21, 28), (2, 21, 28), (3, 28, 28), (4, 28, 28)]
        );
        let made = daily(&web, &policy(), "2026-12-20T06:00:00Z", 20);
        all_in_time(&made, SupportWindow::new(ends).ended_at());
        let slot_of = |n| {
            let (_, _, slot, _) = made.iter().find(|m| m.0 == id(n)).unwrap();
            slot.start
        };
        assert_eq!([3, 4].map(slot_of), [ts("2027-01-10T03:00:00Z"); 2]);
        assert_eq!([1, 2].map(slot_of), [ts("2027-01-17T03:00:00Z"); 2]);
        // Three of a group of three (cap 1): a week apart each.
        let batch: Vec<RebootCandidate> = (1..=3).map(|n| grouped(n, ends, "batch")).collect();
        assert_eq!(
            due_leads(&batch, &policy()),
            [(1, 21, 35), (2, 28, 35), (3, 35, 35)]
        );
        let made = daily(&batch, &policy(), "2026-12-15T06:00:00Z", 25);
        all_in_time(&made, SupportWindow::new(ends).ended_at());
        let starts: BTreeSet<Timestamp> = made.iter().map(|m| m.2.start).collect();
        assert_eq!(starts.len(), 3);
        // A weekday window is 3 days apart at most (Friday to Monday): 3 more days per step.
        let weekdays = RebootPolicy::new(window("MON-FRI 02:00-04:00 UTC"));
        assert_eq!(
            due_leads(&batch, &weekdays),
            [(1, 21, 27), (2, 24, 27), (3, 27, 27)]
        );
    }

    #[test]
    fn the_slot_cap_brings_instances_of_one_window_forward_too() {
        let ends = date(2027, 1, 26);
        let two = RebootPolicy {
            max_per_slot: 2,
            ..policy()
        };
        let fleet: Vec<RebootCandidate> = (1..=5).map(|n| cand(n, ends)).collect();
        assert_eq!(
            due_leads(&fleet, &two),
            [
                (1, 21, 35),
                (2, 21, 35),
                (3, 28, 35),
                (4, 28, 35),
                (5, 35, 35)
            ]
        );
        let made = daily(&fleet, &two, "2026-12-15T06:00:00Z", 25);
        assert_eq!(made.len(), 5);
        all_in_time(&made, SupportWindow::new(ends).ended_at());
        // Another window is another pool; group and slot caps add up.
        let mixed = [
            cand(1, ends),
            cand(2, ends),
            RebootCandidate {
                window_override: Some(Ok(window("WED 01:00-02:00 UTC"))),
                ..cand(3, ends)
            },
            grouped(4, ends, "g"),
            grouped(5, ends, "g"),
        ];
        assert_eq!(
            due_leads(&mixed, &two),
            [
                (1, 21, 28),
                (2, 21, 28),
                (3, 21, 21),
                (4, 28, 35),
                (5, 35, 35)
            ]
        );
        let made = daily(&mixed, &two, "2026-12-10T06:00:00Z", 30);
        assert_eq!(made.len(), 5);
        all_in_time(&made, SupportWindow::new(ends).ended_at());
    }

    #[test]
    fn lone_instances_and_spread_cutoffs_keep_the_plain_lead() {
        let ends = date(2027, 1, 26);
        let week_later = date(2027, 2, 2);
        type Case = (Vec<RebootCandidate>, Vec<(u32, i64, i64)>);
        let cases: [Case; 5] = [
            // No group, a group of one, and a group whose other member is not plannable.
            (
                vec![
                    cand(1, ends),
                    cand(2, ends),
                    grouped(3, ends, "solo"),
                    grouped(4, ends, "pair"),
                    RebootCandidate {
                        opted_out: true,
                        ..grouped(5, ends, "pair")
                    },
                    RebootCandidate {
                        live_patching: false,
                        ..grouped(6, ends, "pair")
                    },
                    RebootCandidate {
                        support: SupportFact::Unknown("?".into()),
                        ..grouped(7, ends, "pair")
                    },
                    RebootCandidate {
                        window_override: Some(Err("bad".into())),
                        ..grouped(8, ends, "pair")
                    },
                ],
                vec![(1, 21, 21), (2, 21, 21), (3, 21, 21), (4, 21, 21)],
            ),
            // Cutoffs a full period apart do not compete; 6 days apart do.
            (
                vec![grouped(1, ends, "pair"), grouped(2, week_later, "pair")],
                vec![(1, 21, 28), (2, 21, 28)],
            ),
            (
                vec![
                    grouped(1, ends, "pair"),
                    grouped(2, date(2027, 2, 1), "pair"),
                ],
                vec![(1, 21, 28), (2, 28, 28)],
            ),
            // The earlier cutoff is taken first, whatever the ids.
            (
                vec![grouped(1, week_later, "pair"), grouped(2, ends, "pair")],
                vec![(1, 21, 28), (2, 21, 28)],
            ),
            // Members of one group in different windows do not share slots.
            (
                vec![
                    grouped(1, ends, "pair"),
                    RebootCandidate {
                        window_override: Some(Ok(window("WED 01:00-02:00 UTC"))),
                        ..grouped(2, ends, "pair")
                    },
                ],
                vec![(1, 21, 21), (2, 21, 21)],
            ),
        ];
        for (cands, expected) in cases {
            assert_eq!(due_leads(&cands, &policy()), expected, "{cands:#?}");
        }
        // The plain lead boundary holds for a lone instance.
        let p = plan_reboots(&[cand(1, ends)], &[], &policy(), ts("2027-01-04T23:59:59Z"));
        assert!(matches!(decision(&p, 1), RebootDecision::NotDue { .. }));
        let p = plan_reboots(&[cand(1, ends)], &[], &policy(), ts("2027-01-05T00:00:00Z"));
        assert!(matches!(decision(&p, 1), RebootDecision::Booked { .. }));
    }

    #[test]
    fn a_booking_made_early_stays_when_the_one_ahead_goes_first() {
        // 2 was booked a week early because 1 was ahead; 1 then rebooted into a newer kernel.
        let ends = date(2027, 1, 26);
        let key = "20270110T0300-0500-utc";
        let early = booking(key, "2027-01-10T03:00:00Z", 2, &[2]);
        let newer = RebootCandidate {
            kernel: "6.1.200-1.1.amzn2023.x86_64".into(),
            ..grouped(1, date(2027, 4, 30), "batch")
        };
        let waiting = grouped(2, ends, "batch");
        let at = ts("2026-12-30T06:00:00Z"); // 27 days left: 2 alone would not be due
        let cands = [newer.clone(), waiting.clone()];
        assert_eq!(due_leads(&cands, &policy()), [(1, 21, 28), (2, 21, 28)]);
        let p = plan_reboots(&cands, std::slice::from_ref(&early), &policy(), at);
        assert_eq!(
            decision(&p, 2),
            &RebootDecision::AlreadyBooked {
                key: key.into(),
                start: early.start
            }
        );
        assert!(p.changes_nothing());
        // The same instance on another kernel is judged afresh: not due, given up.
        let moved_on = RebootCandidate {
            kernel: "6.1.101-1.1.amzn2023.x86_64".into(),
            ..waiting.clone()
        };
        let p = plan_reboots(
            &[newer, moved_on],
            std::slice::from_ref(&early),
            &policy(),
            at,
        );
        assert!(matches!(decision(&p, 2), RebootDecision::NotDue { .. }));
        assert_eq!(p.remove, vec![key.to_owned()]);
        // The longest lead bounds how long a booking is held: 29 days left is too early.
        let p = plan_reboots(&cands, &[early], &policy(), ts("2026-12-28T06:00:00Z"));
        assert!(matches!(decision(&p, 2), RebootDecision::NotDue { .. }));
        assert_eq!(p.remove, vec![key.to_owned()]);
    }

    #[test]
    fn policy_checks_name_the_setting() {
        assert_eq!(policy().validate(), Ok(()));
        let bad = [
            (
                RebootPolicy {
                    max_per_slot: 0,
                    ..policy()
                },
                "max_per_slot",
            ),
            (
                RebootPolicy {
                    max_per_slot: 101,
                    ..policy()
                },
                "max_per_slot",
            ),
            (
                RebootPolicy {
                    max_group_fraction: 0.0,
                    ..policy()
                },
                "max_group_fraction",
            ),
            (
                RebootPolicy {
                    max_group_fraction: 1.5,
                    ..policy()
                },
                "max_group_fraction",
            ),
            (
                RebootPolicy {
                    max_group_fraction: f64::NAN,
                    ..policy()
                },
                "max_group_fraction",
            ),
            (
                RebootPolicy {
                    margin_days: 21,
                    ..policy()
                },
                "margin_days (21) must be less than lead_days (21)",
            ),
        ];
        for (p, text) in bad {
            let err = p.validate().unwrap_err().to_string();
            assert!(err.contains(text), "{err}");
        }
    }

    /// The issue's end-to-end check on the pure model: 20 instances, 120 days, a new kernel every
    /// 14 days, the planner daily at 06:00 UTC on facts scanned at 01:00 UTC, windows that reboot
    /// into the newest kernel.
    #[test]
    fn a_simulated_fleet_keeps_live_patch_support_for_120_days() {
        struct Host {
            id: InstanceId,
            released: Date,
            window: RebootWindow,
            group: Option<String>,
            reboots: Vec<Timestamp>,
        }
        let base = date(2026, 1, 4);
        let newest = |t: Timestamp| {
            let day = t.to_zoned_datetime(TimeZone::UTC).date();
            let n = base.duration_until(day).as_secs() / 86_400 / 14;
            base.checked_add((n * 14).days()).unwrap()
        };
        let support = |released: Date| SupportWindow::from_al2_build(released);
        let kernel =
            |released: Date| format!("6.1.{}-1.1.amzn2023.x86_64", released.strftime("%Y%m%d"));
        let policy = RebootPolicy::new(window("SUN 03:00-05:00 Europe/Berlin"));
        let start = ts("2026-09-01T06:00:00Z");
        let mut hosts: Vec<Host> = (0..20u32)
            .map(|n| Host {
                id: id(n + 1),
                // Two past their cutoff; the others ending 23 to 74 days ahead, 3 days apart.
                released: match n {
                    0 | 1 => date(2026, 5, 27)
                        .checked_add((4 * i64::from(n)).days())
                        .unwrap(),
                    _ => date(2026, 6, 18)
                        .checked_add((3 * i64::from(n)).days())
                        .unwrap(),
                },
                window: match n {
                    3 => window("MON-FRI 02:00-04:00 America/New_York"),
                    4 => window("SAT 23:00-01:00 UTC"),
                    _ => policy.default_window.clone(),
                },
                group: match n % 5 {
                    0 => Some("db".to_owned()),
                    1 | 2 => Some("web".to_owned()),
                    _ => None,
                },
                reboots: Vec::new(),
            })
            .collect();
        let initially_past: BTreeSet<InstanceId> = hosts
            .iter()
            .filter(|h| support(h.released).ended_at() <= start)
            .map(|h| h.id.clone())
            .collect();
        assert_eq!(initially_past.len(), 2);
        let mut bookings: Vec<Booking> = Vec::new();
        let mut announced: BTreeMap<(String, InstanceId), Timestamp> = BTreeMap::new();
        let cap = |group: &str| {
            policy.group_cap(
                hosts
                    .iter()
                    .filter(|h| h.group.as_deref() == Some(group))
                    .count(),
            )
        };
        let caps: BTreeMap<String, usize> = ["db", "web"].map(|g| (g.to_owned(), cap(g))).into();

        let run_windows =
            |until: Timestamp,
             hosts: &mut Vec<Host>,
             bookings: &mut Vec<Booking>,
             announced: &BTreeMap<(String, InstanceId), Timestamp>| {
                for b in bookings
                    .iter_mut()
                    .filter(|b| b.state == BookingState::Booked && b.start <= until)
                {
                    for i in &b.instances {
                        let host = hosts.iter_mut().find(|h| h.id == i.instance).unwrap();
                        // Only inside a slot of the host's own window, booked and announced beforehand.
                        let slot = host
                            .window
                            .slots_between(b.start, b.start + SignedDuration::from_secs(1))
                            .next();
                        assert_eq!(
                            slot.map(|s| (s.key(), s.end)),
                            Some((b.key.clone(), b.end)),
                            "{}",
                            b.key
                        );
                        let told = announced[&(b.key.clone(), host.id.clone())];
                        let exempt = initially_past.contains(&host.id) && host.reboots.is_empty();
                        assert!(
                            exempt || b.start.duration_since(told) >= days(7),
                            "{} told {told} for {}",
                            host.id,
                            b.key
                        );
                        host.released = newest(b.start);
                        host.reboots.push(b.start);
                    }
                    b.state = BookingState::Executed {
                        ended_at: b.start + SignedDuration::from_mins(40),
                    };
                }
            };

        for day in 0..120 {
            let now = start + days(day);
            let scan = now - SignedDuration::from_hours(5);
            run_windows(scan, &mut hosts, &mut bookings, &announced);
            let cands: Vec<RebootCandidate> = hosts
                .iter()
                .map(|h| RebootCandidate {
                    instance: h.id.clone(),
                    name: h.id.to_string(),
                    kernel: kernel(h.released),
                    support: SupportFact::Ends(support(h.released)),
                    facts_at: scan,
                    group: h.group.clone(),
                    window_override: (h.window != policy.default_window)
                        .then(|| Ok(h.window.clone())),
                    opted_out: false,
                    live_patching: true,
                })
                .collect();
            run_windows(now, &mut hosts, &mut bookings, &announced);
            let plan = plan_reboots(&cands, &bookings, &policy, now);
            assert_eq!(plan_reboots(&cands, &bookings, &policy, now), plan);
            for d in &plan.decisions {
                if let RebootDecision::Booked { slot, urgency, .. } = &d.decision {
                    let first_of_late = initially_past.contains(&d.instance) && day == 0;
                    assert!(
                        first_of_late || *urgency == Urgency::InTime,
                        "day {day}: {} {urgency:?}",
                        d.instance
                    );
                    announced.insert((slot.key(), d.instance.clone()), now);
                }
            }
            bookings = plan.apply(&bookings);
            assert!(
                plan_reboots(&cands, &bookings, &policy, now).changes_nothing(),
                "day {day}"
            );

            let pending: Vec<&Booking> = bookings
                .iter()
                .filter(|b| b.over_at(now).is_none())
                .collect();
            assert!(bookings.len() <= 50);
            for b in &pending {
                assert!(b.instances.len() <= policy.max_per_slot as usize);
                for (group, cap) in &caps {
                    let members = b.instances.iter().filter(|i| {
                        hosts
                            .iter()
                            .any(|h| h.id == i.instance && h.group.as_ref() == Some(group))
                    });
                    assert!(members.count() <= *cap, "{group} in {}", b.key);
                }
            }
            for h in &hosts {
                let cutoff = support(h.released).ended_at();
                let booked = pending
                    .iter()
                    .any(|b| b.instances.iter().any(|i| i.instance == h.id));
                assert!(
                    cutoff > now || booked,
                    "day {day}: {} past its cutoff without a booking",
                    h.id
                );
                let still_first_kernel = h.reboots.is_empty() && initially_past.contains(&h.id);
                assert!(
                    cutoff > now || still_first_kernel,
                    "day {day}: {} ran past its cutoff",
                    h.id
                );
            }
        }
        for h in &hosts {
            assert!(!h.reboots.is_empty(), "{} never rebooted", h.id);
            for pair in h.reboots.windows(2) {
                assert!(
                    pair[1].duration_since(pair[0]) >= days(60),
                    "{} rebooted twice too soon",
                    h.id
                );
            }
        }
    }

    #[test]
    fn a_booked_instance_is_released_when_unseen_unplannable_or_moved_to_another_window() {
        let jan10 = "20270110T0300-0500-utc";
        let bookings = [booking(jan10, "2027-01-10T03:00:00Z", 2, &[1, 2, 3, 4])];
        let due = date(2027, 1, 16);
        // 1 stays; 2's window tag now names Wednesdays; 3's facts became unreadable; 4 is unseen.
        let mut moved = cand(2, due);
        moved.window_override = Some(Ok(window("WED 02:00-04:00 UTC")));
        let mut unknown = cand(3, due);
        unknown.support = SupportFact::Unknown("no build date".into());
        let cands = [cand(1, due), moved, unknown];
        let p = plan(&cands, &bookings);
        assert!(matches!(
            decision(&p, 1),
            RebootDecision::AlreadyBooked { .. }
        ));
        let given_up: Vec<_> = p.withdraw.iter().map(|w| w.instance.clone()).collect();
        assert_eq!(given_up, vec![id(2), id(3)]);
        assert!(matches!(decision(&p, 2), RebootDecision::Booked { .. }));
        assert!(matches!(
            decision(&p, 3),
            RebootDecision::Unplannable { .. }
        ));
        assert_eq!(
            withdraw_unseen(&cands, &bookings, now()),
            vec![Withdrawal {
                key: jan10.into(),
                instance: id(4)
            }]
        );
        // A window that has started is never touched.
        assert!(withdraw_unseen(&cands, &bookings, ts("2027-01-10T03:30:00Z")).is_empty());
    }

    #[test]
    fn a_window_emptied_by_unseen_instances_is_deleted_not_left_without_targets() {
        let jan10 = "20270110T0300-0500-utc";
        let jan17 = "20270117T0300-0500-utc";
        let bookings = [
            booking(jan10, "2027-01-10T03:00:00Z", 2, &[4]),
            booking(jan17, "2027-01-17T03:00:00Z", 2, &[1, 4]),
        ];
        // 1 is booked in jan17 and still due; 4 is gone from the fleet.
        let cands = [cand(1, date(2027, 1, 22))];
        let mut p = plan(&cands, &bookings);
        assert!(p.remove.is_empty());
        p.add_withdrawals(withdraw_unseen(&cands, &bookings, now()), &bookings, now());
        assert_eq!(p.remove, [jan10]);
        let to_make: Vec<_> = p.withdrawals_to_make().map(|w| w.key.as_str()).collect();
        assert_eq!(to_make, [jan17]);
        assert_eq!(p.withdraw.len(), 2, "both cancellations are told");
        let after = p.apply(&bookings);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].instances.len(), 1);
        // Adding the same withdrawals again changes nothing.
        let again = p.clone();
        p.add_withdrawals(withdraw_unseen(&cands, &bookings, now()), &bookings, now());
        assert_eq!(p, again);
    }

    fn needs_reboot_to_enable(n: u32) -> RebootCandidate {
        RebootCandidate {
            kernel: "4.14.152-124.171.amzn2.x86_64".into(),
            support: SupportFact::RebootToEnable("kernel below 4.14.165-131.185".into()),
            live_patching: false,
            ..cand(n, date(2099, 1, 1))
        }
    }

    #[test]
    fn a_slot_dropped_for_a_clock_change_makes_the_instance_due_a_period_earlier() {
        // Europe/Berlin springs forward on Sunday 2027-03-28 at 02:00: no slot that day.
        let berlin = RebootPolicy::new(window("SUN 02:00-04:00 Europe/Berlin"));
        assert_eq!(
            slot_on("SUN 02:00-04:00 Europe/Berlin", date(2027, 3, 28)),
            None
        );
        let c = cand(1, date(2027, 4, 5));
        // With the plain 21 days' lead it would come due on 2027-03-15, when the only slot
        // in time (2027-03-21) is less than a week away: it comes due a week earlier.
        let early = plan_reboots(
            std::slice::from_ref(&c),
            &[],
            &berlin,
            ts("2027-03-07T06:30:00Z"),
        );
        assert_eq!(
            decision(&early, 1),
            &RebootDecision::NotDue {
                support_end: date(2027, 4, 5)
            }
        );
        let p = plan_reboots(
            std::slice::from_ref(&c),
            &[],
            &berlin,
            ts("2027-03-08T06:30:00Z"),
        );
        let (start, fallback, urgency, _) = booked(&p, 1);
        assert_eq!(start, ts("2027-03-21T01:00:00Z"));
        assert_eq!((fallback, urgency), (None, Urgency::InTime));
        // Held, not given up, on the days between.
        let held = plan_reboots(&[c], &p.apply(&[]), &berlin, ts("2027-03-16T06:30:00Z"));
        assert!(held.changes_nothing(), "{held:?}");
        // A UTC window has its slot on 2027-03-28: the plain lead.
        let utc = plan(&[cand(1, date(2027, 4, 5))], &[]);
        assert!(matches!(decision(&utc, 1), RebootDecision::NotDue { .. }));
        let p = plan_reboots(
            &[cand(1, date(2027, 4, 5))],
            &[],
            &policy(),
            ts("2027-03-08T06:30:00Z"),
        );
        assert!(matches!(decision(&p, 1), RebootDecision::NotDue { .. }));
    }

    #[test]
    fn a_reboot_to_enable_live_patching_is_booked_with_notice_after_instances_with_a_cutoff() {
        let policy = RebootPolicy {
            max_per_slot: 1,
            ..policy()
        };
        // 1 needs a reboot to enable live patching; 2's support ends on 2027-01-20.
        let cands = [needs_reboot_to_enable(1), cand(2, date(2027, 1, 20))];
        let p = plan_reboots(&cands, &[], &policy, now());
        // 2 takes the first slot with a week's notice (Jan 10); 1 the next one, in time.
        assert_eq!(booked(&p, 2).0, ts("2027-01-10T03:00:00Z"));
        let (start, fallback, urgency, previous) = booked(&p, 1);
        assert_eq!(start, ts("2027-01-17T03:00:00Z"));
        assert_eq!(fallback, Some(ts("2027-01-24T03:00:00Z")));
        assert_eq!((urgency, previous), (Urgency::InTime, None));
        assert_eq!(
            p.create[1].instances,
            [BookedInstance {
                instance: id(1),
                kernel: Some("4.14.152-124.171.amzn2.x86_64".into())
            }]
        );
        // Alone, it takes the first slot with notice, never one sooner.
        let p = plan(&[needs_reboot_to_enable(1)], &[]);
        assert_eq!(booked(&p, 1).0, ts("2027-01-10T03:00:00Z"));
        assert_eq!(booked(&p, 1).2, Urgency::InTime);
        // Opted out: never booked.
        let opted = RebootCandidate {
            opted_out: true,
            ..needs_reboot_to_enable(1)
        };
        assert_eq!(decision(&plan(&[opted], &[]), 1), &RebootDecision::OptedOut);
        // Live patching off on a kernel that can enable it at once: nothing to book.
        let off = RebootCandidate {
            live_patching: false,
            ..cand(1, date(2027, 1, 5))
        };
        assert_eq!(
            decision(&plan(&[off], &[]), 1),
            &RebootDecision::NotLivePatched
        );
    }

    #[test]
    fn after_the_reboot_to_enable_the_window_is_settled_or_booked_again() {
        let key = "20270103T0300-0500-utc";
        let mut ran = booking(key, "2027-01-03T03:00:00Z", 2, &[1]);
        ran.instances[0].kernel = Some("4.14.152-124.171.amzn2.x86_64".into());
        ran.state = BookingState::Executed {
            ended_at: ts("2027-01-03T03:40:00Z"),
        };
        let later = ts("2027-01-04T06:00:00Z");
        let fresh = |c: RebootCandidate| RebootCandidate {
            facts_at: ts("2027-01-04T01:00:00Z"),
            ..c
        };
        // Facts from before the window: wait for the next scan.
        let p = plan_reboots(
            &[needs_reboot_to_enable(1)],
            &[ran.clone()],
            &policy(),
            later,
        );
        assert_eq!(
            decision(&p, 1),
            &RebootDecision::AwaitingFacts { key: key.into() }
        );
        assert!(p.create.is_empty() && p.remove.is_empty());
        // Rebooted into a kernel that can enable at once: live patching is still off, nothing
        // more to book, and the window is deleted.
        let rebooted = RebootCandidate {
            kernel: "4.14.355-275.570.amzn2.x86_64".into(),
            support: SupportFact::Ends(SupportWindow::new(date(2027, 3, 31))),
            ..fresh(needs_reboot_to_enable(1))
        };
        let p = plan_reboots(&[rebooted], &[ran.clone()], &policy(), later);
        assert_eq!(decision(&p, 1), &RebootDecision::NotLivePatched);
        assert_eq!(p.remove, [key]);
        // Still the same old kernel: booked again, saying which window did not help.
        let p = plan_reboots(
            &[fresh(needs_reboot_to_enable(1))],
            &[ran],
            &policy(),
            later,
        );
        let (start, _, _, previous) = booked(&p, 1);
        assert_eq!(start, ts("2027-01-17T03:00:00Z"));
        assert_eq!(previous.as_deref(), Some(key));
        assert_eq!(p.remove, [key]);
    }
}
