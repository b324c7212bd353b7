//! Identifiers of managed instances.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is not an EC2 instance id or a hybrid managed instance id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an instance id (expected i- with 8 or 17 lower-case hex digits, or mi- with 17)")]
pub struct InstanceIdError {
    /// The rejected string.
    pub input: String,
}

/// An EC2 instance id (`i-0123456789abcdef0`, or the old 8-digit `i-12345678`) or a hybrid
/// managed instance id (`mi-0123456789abcdef0`), validated on construction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for on-premises / hybrid nodes (`mi-`), which have no EC2 API behind them.
    pub fn is_managed_instance(&self) -> bool {
        self.0.starts_with("mi-")
    }

    /// The id as an owned `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl FromStr for InstanceId {
    type Err = InstanceIdError;

    /// Strict: no surrounding whitespace, no upper case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = match (s.strip_prefix("i-"), s.strip_prefix("mi-")) {
            (Some(hex), _) => matches!(hex.len(), 8 | 17) && is_lower_hex(hex),
            (_, Some(hex)) => hex.len() == 17 && is_lower_hex(hex),
            _ => false,
        };
        if valid {
            Ok(InstanceId(s.to_owned()))
        } else {
            Err(InstanceIdError {
                input: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for InstanceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for InstanceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_ids() {
        for (s, managed) in [
            ("i-0123456789abcdef0", false),
            ("i-1234abcd", false),
            ("mi-0123456789abcdef0", true),
        ] {
            let id: InstanceId = s.parse().unwrap();
            assert_eq!(id.as_str(), s);
            assert_eq!(id.to_string(), s);
            assert_eq!(id.is_managed_instance(), managed, "{s}");
        }
    }

    #[test]
    fn rejects_invalid_ids_naming_them() {
        for bad in [
            "",
            "i-",
            "i-0123456789ABCDEF0",
            "i-0123456789abcdef",
            "i-0123456789abcdef01",
            "i-1234abc",
            "i-1234abcg",
            "mi-1234abcd",
            "mi-0123456789abcdeg0",
            "I-0123456789abcdef0",
            " i-0123456789abcdef0",
            "i-0123456789abcdef0\n",
            "0123456789abcdef0",
            "ami-0123456789abcdef0",
        ] {
            let err = bad.parse::<InstanceId>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn serde_validates() {
        let id: InstanceId = serde_json::from_str(r#""i-0123456789abcdef0""#).unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""i-0123456789abcdef0""#
        );
        let err = serde_json::from_str::<InstanceId>(r#""i-XYZ""#).unwrap_err();
        assert!(err.to_string().contains("i-XYZ"), "{err}");
        assert!(serde_json::from_str::<InstanceId>("42").is_err());
    }

    #[test]
    fn orders_and_converts() {
        let a: InstanceId = "i-0000000000000000a".parse().unwrap();
        let b: InstanceId = "i-0000000000000000b".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.as_ref(), "i-0000000000000000a");
        assert_eq!(a.into_string(), "i-0000000000000000a");
    }
}
