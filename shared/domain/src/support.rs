//! The live patch support window: how long a running kernel keeps receiving live patches.
//!
//! AL2 publishes live patches for a kernel for up to 3 months after its release; Patch Manager
//! takes the build date from `uname -v` and adds 3 calendar months. AL2023 states the date
//! itself (`dnf kernel-livepatch support`). No AWS API returns either date.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::excerpt;

/// Why a support date could not be read; always names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupportError {
    /// `uname -v` output without a recognisable `Mon D HH:MM:SS [TZ] YYYY` build stamp.
    #[error("no kernel build date in `uname -v` output {input:?}")]
    BuildDate {
        /// The rejected string.
        input: String,
    },
    /// `dnf kernel-livepatch support` output without the end-of-support sentence.
    #[error("no \"will no longer receive live patches after YYYY-MM-DD\" in {output:?}")]
    NoSupportSentence {
        /// The start of the rejected output.
        output: String,
    },
    /// The sentence is there but its date is not a valid `YYYY-MM-DD`.
    #[error("invalid date {date:?} in live patch support output {output:?}")]
    BadDate {
        /// The text where the date should be.
        date: String,
        /// The start of the output.
        output: String,
    },
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Reads the kernel build date from `uname -v`, e.g. `#1 SMP Sun Feb 9 00:21:30 UTC 2020` or
/// `#1 SMP PREEMPT_DYNAMIC Tue Jan 14 19:04:18 UTC 2025`.
///
/// The stamp is read from the end of the string. Any time zone abbreviation is accepted and
/// the calendar date taken as written, as Patch Manager does (AL kernels are built in UTC).
pub fn al2_build_date(uname_v: &str) -> Result<Date, SupportError> {
    parse_build_stamp(uname_v).ok_or_else(|| SupportError::BuildDate {
        input: uname_v.to_owned(),
    })
}

fn parse_build_stamp(uname_v: &str) -> Option<Date> {
    let mut tokens = uname_v.split_whitespace().rev().peekable();
    let year = tokens
        .next()
        .filter(|y| y.len() == 4)?
        .parse::<i16>()
        .ok()?;
    // Optional zone: `UTC`, `PST`, or a numeric offset.
    if tokens
        .peek()
        .is_some_and(|t| t.bytes().all(|c| c.is_ascii_alphabetic()) || t.starts_with(['+', '-']))
    {
        tokens.next();
    }
    let time = tokens.next()?;
    let time_ok = time.split(':').count() == 3
        && time
            .split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit()));
    if !time_ok {
        return None;
    }
    let day = tokens
        .next()
        .filter(|d| (1..=2).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit()))?
        .parse::<i8>()
        .ok()?;
    let month = tokens.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month)? as i8 + 1;
    Date::new(year, month, day).ok()
}

/// Last day of live patch support for an AL2 kernel built on `build`: 3 calendar months
/// later, the day clamped to the end of the month (Nov 30 -> Feb 28, or 29 in a leap year).
pub fn support_end_from_build(build: Date) -> Date {
    build.saturating_add(3.months())
}

const SENTENCE: &str = "will no longer receive live patches after";

/// Reads the end date from `dnf kernel-livepatch support` output, which contains
/// `... will no longer receive live patches after YYYY-MM-DD.`; other lines are ignored.
pub fn al2023_support_end(output: &str) -> Result<Date, SupportError> {
    // ASCII lowering keeps byte offsets, so positions found in `lower` index `output`.
    let lower = output.to_ascii_lowercase();
    let at = lower
        .find(SENTENCE)
        .ok_or_else(|| SupportError::NoSupportSentence {
            output: excerpt(output),
        })?;
    let rest = output[at + SENTENCE.len()..].trim_start();
    let date: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    let bad = || SupportError::BadDate {
        date: rest.chars().take(20).collect(),
        output: excerpt(output),
    };
    if date.len() != 10 {
        return Err(bad());
    }
    date.parse::<Date>().map_err(|_| bad())
}

/// The period during which a running kernel receives live patches.
///
/// Support covers the whole of the `ends` day in UTC: it is over from `ends + 1 day`
/// 00:00:00 UTC ([`SupportWindow::ended_at`]). Patch Manager compares calendar dates, and
/// the AL2023 tool says "after YYYY-MM-DD", so the last day itself is still covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SupportWindow {
    /// Last day (UTC) on which live patches are still published.
    pub ends: Date,
}

/// Where `now` stands relative to a [`SupportWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SupportStatus {
    /// More than the warning period left.
    Ok,
    /// Still supported, with `days_left` full days after today (0: today is the last day).
    EndingSoon {
        /// Days from today (UTC) to the last day.
        days_left: i64,
    },
    /// Support is over; `days_ago` is 1 on the first day without support.
    Ended {
        /// Days since the last supported day.
        days_ago: i64,
    },
}

impl SupportWindow {
    /// A window whose last supported day is `ends`.
    pub fn new(ends: Date) -> Self {
        SupportWindow { ends }
    }

    /// The AL2 window of a kernel built on `build` (see [`support_end_from_build`]).
    pub fn from_al2_build(build: Date) -> Self {
        SupportWindow::new(support_end_from_build(build))
    }

    /// The first instant without support: the start of the day after `ends`, UTC.
    pub fn ended_at(&self) -> Timestamp {
        // Only the last representable date has no next day; its support never ends.
        self.ends
            .tomorrow()
            .and_then(|next| next.to_zoned_datetime(TimeZone::UTC))
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX)
    }

    /// Days from `now`'s UTC date to `ends`: 0 on the last day, negative once it has passed.
    pub fn days_left(&self, now: Timestamp) -> i64 {
        let today = now.to_zoned_datetime(TimeZone::UTC).date();
        today.duration_until(self.ends).as_secs() / 86_400
    }

    /// Classifies `now`: `EndingSoon` when at most `warn_days` days are left.
    pub fn status(&self, now: Timestamp, warn_days: u32) -> SupportStatus {
        match self.days_left(now) {
            left if left < 0 => SupportStatus::Ended { days_ago: -left },
            left if left <= i64::from(warn_days) => SupportStatus::EndingSoon { days_left: left },
            _ => SupportStatus::Ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn reads_build_dates() {
        let cases = [
            ("#1 SMP Sun Feb 9 00:21:30 UTC 2020", date(2020, 2, 9)),
            ("#1 SMP Sun Feb  9 00:21:30 UTC 2020", date(2020, 2, 9)),
            (
                "#1 SMP PREEMPT_DYNAMIC Tue Jan 14 19:04:18 UTC 2025",
                date(2025, 1, 14),
            ),
            ("#1 SMP Wed Dec 31 23:59:59 PST 2024", date(2024, 12, 31)),
            ("#1 SMP Thu Feb 29 10:00:00 UTC 2024", date(2024, 2, 29)),
            ("#1 SMP Mon Mar 4 10:00:00 2024", date(2024, 3, 4)),
            ("#1 SMP Mon Mar 4 10:00:00 +0000 2024", date(2024, 3, 4)),
            (
                "  #1 SMP Fri Oct 11 12:00:00 UTC 2024\n",
                date(2024, 10, 11),
            ),
            ("#1 SMP fri OCT 11 12:00:00 UTC 2024", date(2024, 10, 11)),
        ];
        for (input, expected) in cases {
            assert_eq!(al2_build_date(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn unreadable_build_dates_name_the_input() {
        for bad in [
            "",
            "#1 SMP",
            "#1 SMP Sun Feb 9 00:21:30 UTC",
            "#1 SMP Sun Foo 9 00:21:30 UTC 2020",
            "#1 SMP Sun Feb 30 00:21:30 UTC 2021",
            "#1 SMP Sun Feb 9 0:21:30 UTC 2020",
            "#1 SMP Sun Feb 123 00:21:30 UTC 2020",
            "#1 SMP Sun Feb 9 00:21 UTC 2020",
        ] {
            let err = al2_build_date(bad).unwrap_err();
            assert_eq!(err, SupportError::BuildDate { input: bad.into() });
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn three_calendar_months_clamped_to_month_end() {
        let cases = [
            (date(2020, 2, 9), date(2020, 5, 9)),
            (date(2023, 11, 30), date(2024, 2, 29)),
            (date(2022, 11, 30), date(2023, 2, 28)),
            (date(2024, 8, 31), date(2024, 11, 30)),
            (date(2024, 12, 15), date(2025, 3, 15)),
            (date(2024, 11, 29), date(2025, 2, 28)),
            (date(2023, 11, 29), date(2024, 2, 29)),
            (date(2099, 11, 30), date(2100, 2, 28)),
            (date(2024, 3, 31), date(2024, 6, 30)),
            (date(2024, 1, 31), date(2024, 4, 30)),
            (date(2024, 10, 31), date(2025, 1, 31)),
            (date(2024, 2, 29), date(2024, 5, 29)),
        ];
        for (build, end) in cases {
            assert_eq!(support_end_from_build(build), end, "{build}");
        }
        assert_eq!(
            SupportWindow::from_al2_build(date(2020, 2, 9)),
            SupportWindow::new(date(2020, 5, 9))
        );
    }

    #[test]
    fn reads_al2023_support_sentence() {
        let out = "Last metadata expiration check: 0:00:12 ago on Tue 03 Dec 2024.\n\
                   Kernel 6.1.102-111.182.amzn2023.x86_64 will no longer receive live patches after 2024-11-07.\n";
        assert_eq!(al2023_support_end(out).unwrap(), date(2024, 11, 7));
        let out = "6.12.40-63.114.amzn2023.aarch64 Will No Longer Receive Live Patches After   2026-02-28";
        assert_eq!(al2023_support_end(out).unwrap(), date(2026, 2, 28));
    }

    #[test]
    fn al2023_support_errors_name_the_output() {
        let err = al2023_support_end("No such command: kernel-livepatch.").unwrap_err();
        assert!(matches!(err, SupportError::NoSupportSentence { .. }));
        assert!(err.to_string().contains("No such command"), "{err}");

        let err = al2023_support_end("... will no longer receive live patches after 2024-02-30.")
            .unwrap_err();
        assert!(matches!(err, SupportError::BadDate { .. }), "{err:?}");
        assert!(err.to_string().contains("2024-02-30"), "{err}");

        let err =
            al2023_support_end("will no longer receive live patches after soon.").unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
        assert!(al2023_support_end("will no longer receive live patches after 2024-1-7.").is_err());
    }

    #[test]
    fn days_left_counts_utc_calendar_days() {
        let w = SupportWindow::new(date(2026, 3, 31));
        assert_eq!(w.days_left(ts("2026-03-01T00:00:00Z")), 30);
        assert_eq!(w.days_left(ts("2026-03-30T23:59:59Z")), 1);
        assert_eq!(w.days_left(ts("2026-03-31T00:00:00Z")), 0);
        assert_eq!(w.days_left(ts("2026-03-31T23:59:59.999Z")), 0);
        assert_eq!(w.days_left(ts("2026-04-01T00:00:00Z")), -1);
        assert_eq!(w.days_left(ts("2026-05-01T12:00:00Z")), -31);
        // Local offsets do not matter: 2026-03-31T20:00-05:00 is already April 1st in UTC.
        assert_eq!(w.days_left(ts("2026-03-31T20:00:00-05:00")), -1);
    }

    #[test]
    fn ended_at_is_the_start_of_the_next_utc_day() {
        let w = SupportWindow::new(date(2026, 3, 31));
        assert_eq!(w.ended_at(), ts("2026-04-01T00:00:00Z"));
        assert_eq!(w.days_left(w.ended_at()), -1);
    }

    #[test]
    fn status_thresholds() {
        let w = SupportWindow::new(date(2026, 3, 31));
        assert_eq!(w.status(ts("2026-03-01T00:00:00Z"), 14), SupportStatus::Ok);
        assert_eq!(w.status(ts("2026-03-16T00:00:00Z"), 14), SupportStatus::Ok);
        assert_eq!(
            w.status(ts("2026-03-17T00:00:00Z"), 14),
            SupportStatus::EndingSoon { days_left: 14 }
        );
        assert_eq!(
            w.status(ts("2026-03-31T23:00:00Z"), 14),
            SupportStatus::EndingSoon { days_left: 0 }
        );
        assert_eq!(
            w.status(ts("2026-04-01T00:00:00Z"), 14),
            SupportStatus::Ended { days_ago: 1 }
        );
        assert_eq!(
            w.status(ts("2026-04-11T00:00:00Z"), 0),
            SupportStatus::Ended { days_ago: 11 }
        );
        assert_eq!(
            w.status(ts("2026-03-31T00:00:00Z"), 0),
            SupportStatus::EndingSoon { days_left: 0 }
        );
        assert_eq!(w.status(ts("2026-03-30T00:00:00Z"), 0), SupportStatus::Ok);
    }

    #[test]
    fn serde_shapes() {
        let w = SupportWindow::new(date(2026, 3, 31));
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"ends":"2026-03-31"}"#
        );
        assert_eq!(
            serde_json::from_str::<SupportWindow>(r#"{"ends":"2026-03-31"}"#).unwrap(),
            w
        );
        assert_eq!(
            serde_json::to_string(&SupportStatus::EndingSoon { days_left: 3 }).unwrap(),
            r#"{"kind":"ending_soon","days_left":3}"#
        );
    }
}
