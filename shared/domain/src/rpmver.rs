//! RPM version comparison (`rpmvercmp`), as RPM itself orders versions and releases.
//!
//! Kernel and live patch versions must never be compared as plain strings: `4.14.9` is older than
//! `4.14.165`. This is a faithful port of `rpmvercmp()` from RPM 4.15+ (`rpmio/rpmvercmp.c`),
//! including the tilde (`~`, pre-release) and caret (`^`, post-release snapshot) rules.

use std::cmp::Ordering;

/// Compares two RPM version (or release) strings the way `rpmvercmp()` does.
///
/// - The strings are split into maximal runs of ASCII digits or ASCII letters; every other byte
///   is a separator and only delimits segments (`1.0` equals `1_0`).
/// - Numeric segments compare as numbers of any length (leading zeros ignored);
///   alphabetic segments compare byte-wise (`A` < `a`).
/// - A numeric segment is newer than an alphabetic one (`1.0` > `1.a`).
/// - `~` sorts before anything, even the end of the string (`1.0~rc1` < `1.0`).
/// - `^` sorts after the end of the string but before any further segment
///   (`1.0` < `1.0^git1` < `1.0.1`).
/// - When all segments match, the string with segments left over is newer (`1.0a` > `1.0`).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);

    while i < a.len() || j < b.len() {
        i = skip_separators(a, i);
        j = skip_separators(b, j);
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());

        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        // A caret loses against the end of the other string (the base version) but wins
        // against any further segment, hence the order of these tests.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        if i >= a.len() || j >= b.len() {
            break;
        }

        let numeric = a[i].is_ascii_digit();
        let is_kind = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| is_kind(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| is_kind(c)).count();
        let (seg_a, seg_b) = (&a[i..end_a], &b[j..end_b]);

        // `b` has a segment of the other kind here; numbers are newer than letters.
        if seg_b.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }

        let ord = if numeric {
            compare_numeric(seg_a, seg_b)
        } else {
            seg_a.cmp(seg_b)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        i = end_a;
        j = end_b;
    }

    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, _) => Ordering::Greater,
    }
}

/// Skips bytes that only separate segments: anything not alphanumeric, `~` or `^`.
fn skip_separators(s: &[u8], mut k: usize) -> usize {
    while k < s.len() && !s[k].is_ascii_alphanumeric() && s[k] != b'~' && s[k] != b'^' {
        k += 1;
    }
    k
}

/// Compares digit runs as numbers without parsing them, so that no length overflows.
fn compare_numeric(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::rpmvercmp;
    use std::cmp::Ordering::{self, Equal, Greater, Less};

    /// Asserts `a ? b` and the mirrored `b ? a`, so every case checks antisymmetry too.
    fn check(a: &str, b: &str, expected: Ordering) {
        assert_eq!(rpmvercmp(a, b), expected, "rpmvercmp({a:?}, {b:?})");
        assert_eq!(
            rpmvercmp(b, a),
            expected.reverse(),
            "rpmvercmp({b:?}, {a:?})"
        );
    }

    #[test]
    fn numeric_segments_compare_as_numbers() {
        check("4.14.9", "4.14.165", Less);
        check("4.14.165", "4.14.200", Less);
        check("5.10.102", "5.10.99", Greater);
        check("131.185", "131.19", Greater);
        check("99.473", "100.1", Less);
        check("2", "10", Less);
    }

    #[test]
    fn equal_strings_and_equal_after_normalisation() {
        check("1.0", "1.0", Equal);
        check("4.14.165", "4.14.165", Equal);
        check("", "", Equal);
        // Separators only delimit; which separator, or how many, does not matter.
        check("1.0", "1_0", Equal);
        check("1.0", "1..0", Equal);
        check("1+0", "1-0", Equal);
        // Trailing separators leave no segment behind.
        check("1.0", "1.0.", Equal);
    }

    #[test]
    fn leading_zeros_are_ignored() {
        check("1.01", "1.1", Equal);
        check("1.001", "1.1", Equal);
        check("1.0010", "1.9", Greater);
        check("00", "0", Equal);
        check("1.000", "1.0", Equal);
    }

    #[test]
    fn longer_version_with_equal_prefix_is_newer() {
        check("1.0", "1.0.1", Less);
        check("4.14", "4.14.165", Less);
        check("1.0a", "1.0", Greater);
        check("1.0", "1.0a", Less);
    }

    #[test]
    fn numeric_beats_alpha() {
        check("1.0", "1.a", Greater);
        check("1.1", "1.a", Greater);
        check("2.0", "2.alpha", Greater);
        check("1a", "1.1", Less);
    }

    #[test]
    fn alpha_segments_compare_bytewise() {
        check("1.a", "1.b", Less);
        check("1.alpha", "1.beta", Less);
        check("1.A", "1.a", Less);
        check("1.0a", "1.0b", Less);
        check("1.ab", "1.a", Greater);
        check("amzn2", "amzn2023", Less);
    }

    #[test]
    fn tilde_sorts_before_everything() {
        check("1.0~rc1", "1.0", Less);
        check("1.0~rc1", "1.0~rc2", Less);
        check("1.0~rc1", "1.0~rc1", Equal);
        check("1.0~~", "1.0~", Less);
        check("1.0~", "1.0", Less);
        check("1.0~rc1", "1.0.1", Less);
        check("1.0~", "1.0~a", Less);
    }

    #[test]
    fn caret_sorts_after_base_but_before_next_segment() {
        check("1.0^", "1.0", Greater);
        check("1.0^git1", "1.0", Greater);
        check("1.0^git1", "1.0.1", Less);
        check("1.0^git1", "1.0^git2", Less);
        check("1.0^git1", "1.01", Less);
        check("1.0^20160101", "1.0^20160102", Less);
        check("1.0^git1", "1.0~rc1", Greater);
        check("1.0^git1~pre", "1.0^git1", Less);
        check("1.0^^", "1.0^", Greater);
    }

    #[test]
    fn long_numbers_do_not_overflow() {
        check(
            "1.123456789012345678901234567890",
            "1.123456789012345678901234567891",
            Less,
        );
        check("99999999999999999999999", "100000000000000000000000", Less);
    }

    #[test]
    fn non_ascii_bytes_are_separators() {
        check("1é0", "1.0", Equal);
    }

    #[test]
    fn kernel_releases() {
        check("131.185.amzn2", "131.19.amzn2", Greater);
        check("133.209", "131.185", Greater);
        check("17.42", "17.5", Greater);
        check("63.114", "63.114", Equal);
    }
}
