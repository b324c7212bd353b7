//! Settings from environment variables, validated at start-up.
//!
//! Every reader takes a lookup function instead of touching the process environment, so tests run
//! in parallel without mutating globals, and every error names the variable at fault.

use std::collections::BTreeMap;

/// A setting that is missing or invalid; the function refuses to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

/// Reads settings through a lookup (the process environment in Lambda, a map in tests).
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

/// Looks a variable up in the process environment.
pub type Lookup = fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env() -> Env<Lookup> {
    Env(|name: &str| std::env::var(name).ok())
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The trimmed value, with empty treated as unset (CloudFormation passes "" for blank parameters).
    pub fn optional(&self, var: &'static str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.optional(var)
            .ok_or_else(|| ConfigError::new(var, "is required but not set"))
    }

    pub fn string_or(&self, var: &'static str, default: &str) -> String {
        self.optional(var).unwrap_or_else(|| default.to_owned())
    }

    pub fn bool_or(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(var).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["true", "1", "yes"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError::new(var, format!("{v:?} is not true or false"))),
        }
    }

    pub fn int_in_or(
        &self,
        var: &'static str,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> Result<i64, ConfigError> {
        let Some(raw) = self.optional(var) else {
            return Ok(default);
        };
        let value: i64 = raw
            .parse()
            .map_err(|_| ConfigError::new(var, format!("{raw:?} is not a whole number")))?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                var,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    /// A decimal number within `min..=max` (both finite), e.g. a fraction `0.5`.
    pub fn float_in_or(
        &self,
        var: &'static str,
        min: f64,
        max: f64,
        default: f64,
    ) -> Result<f64, ConfigError> {
        let Some(raw) = self.optional(var) else {
            return Ok(default);
        };
        let value: f64 = raw
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| ConfigError::new(var, format!("{raw:?} is not a number")))?;
        if !(min..=max).contains(&value) {
            return Err(ConfigError::new(
                var,
                format!("{value} is outside {min}..={max}"),
            ));
        }
        Ok(value)
    }

    /// An SNS topic ARN (`arn:<partition>:sns:<region>:<account>:<name>`).
    pub fn topic_arn(&self, var: &'static str) -> Result<String, ConfigError> {
        let arn = self.required(var)?;
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
            return Err(ConfigError::new(
                var,
                format!("{arn:?} is not an SNS topic ARN"),
            ));
        }
        Ok(arn)
    }

    /// An SSM Parameter Store path the product keeps its parameters under: `/a/b`, at most 15
    /// levels, letters, digits and `.-_`, no `aws`/`ssm` first level (reserved by AWS).
    pub fn parameter_path_or(
        &self,
        var: &'static str,
        default: &str,
    ) -> Result<String, ConfigError> {
        let path = self.string_or(var, default);
        let levels: Vec<&str> = path.split('/').skip(1).collect();
        let problem = if !path.starts_with('/') || path.len() > 900 {
            Some("must start with / and be at most 900 characters")
        } else if levels.is_empty() || levels.len() > 14 || levels.iter().any(|l| l.is_empty()) {
            Some("must be /level/level... (1 to 14 non-empty levels, no trailing /)")
        } else if !path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/.-_".contains(c))
        {
            Some("may hold only letters, digits, / . - _")
        } else if ["aws", "ssm"].contains(&levels[0].to_ascii_lowercase().as_str()) {
            Some("may not start with /aws or /ssm (reserved by AWS)")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(ConfigError::new(var, format!("{path:?} {problem}"))),
            None => Ok(path),
        }
    }

    /// An IAM role ARN (`arn:<partition>:iam::<account>:role/<path/name>`), or `None` when unset or
    /// empty.
    pub fn role_arn_optional(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(arn) = self.optional(var).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let valid = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "iam"
            && parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5]
                .strip_prefix("role/")
                .is_some_and(|n| !n.is_empty());
        if !valid {
            return Err(ConfigError::new(
                var,
                format!("{arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
            ));
        }
        Ok(Some(arn))
    }

    /// A Run Command rate: `MaxConcurrency` (a count ≥ 1 or 1%–100%) or `MaxErrors` (0 allowed).
    pub fn rate_or(
        &self,
        var: &'static str,
        default: &str,
        allow_zero: bool,
    ) -> Result<String, ConfigError> {
        let raw = self.string_or(var, default);
        let (number, percent) = match raw.strip_suffix('%') {
            Some(n) => (n, true),
            None => (raw.as_str(), false),
        };
        let ok = number.parse::<u32>().is_ok_and(|n| {
            let min = u32::from(!allow_zero);
            n >= min && (!percent || n <= 100)
        });
        if !ok {
            let what = if allow_zero { "0 or more" } else { "1 or more" };
            return Err(ConfigError::new(
                var,
                format!("{raw:?} is not a count ({what}) or a percentage such as 10%"),
            ));
        }
        Ok(raw)
    }

    /// Tag filters written `Key=Value,Other=A|B`: an instance must carry every key with one of the values.
    pub fn tag_filters(
        &self,
        var: &'static str,
    ) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
        let mut filters = BTreeMap::new();
        let Some(raw) = self.optional(var) else {
            return Ok(filters);
        };
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, values) = pair.split_once('=').ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!("{pair:?} is not Key=Value (write Key=A|B for several values)"),
                )
            })?;
            let values: Vec<String> = values
                .split('|')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            let key = key.trim();
            if key.is_empty() || values.is_empty() {
                return Err(ConfigError::new(
                    var,
                    format!("{pair:?} needs a key and at least one value"),
                ));
            }
            if filters.insert(key.to_owned(), values).is_some() {
                return Err(ConfigError::new(
                    var,
                    format!("tag key {key:?} appears twice"),
                ));
            }
        }
        if filters.len() > 5 {
            return Err(ConfigError::new(var, "at most 5 tag filters are allowed"));
        }
        Ok(filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn role_arns_are_checked() {
        let read = |v: &str| env(&[("R", v)]).role_arn_optional("R");
        assert_eq!(env(&[]).role_arn_optional("R").unwrap(), None);
        assert_eq!(read("").unwrap(), None);
        assert_eq!(
            read("arn:aws:iam::123456789012:role/stack-WindowTaskRole-1").unwrap(),
            Some("arn:aws:iam::123456789012:role/stack-WindowTaskRole-1".to_owned())
        );
        assert!(read("arn:aws-cn:iam::123456789012:role/a/b")
            .unwrap()
            .is_some());
        for bad in [
            "WindowTaskRole",
            "arn:aws:iam::123:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/x",
        ] {
            assert_eq!(read(bad).unwrap_err().var, "R", "{bad}");
        }
    }

    #[test]
    fn parameter_paths_are_checked() {
        let ok = |v: &str| {
            env(&[("P", v)])
                .parameter_path_or("P", "/d/x")
                .map_err(|e| e.problem)
        };
        assert_eq!(env(&[]).parameter_path_or("P", "/d/x").unwrap(), "/d/x");
        assert_eq!(
            ok("/livepatch-autopilot/prod/live-patching-disabled").unwrap(),
            "/livepatch-autopilot/prod/live-patching-disabled"
        );
        for bad in [
            "no-slash",
            "/trailing/",
            "/",
            "/a//b",
            "/aws/x",
            "/SSM/x",
            "/a b",
            "/a/*",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(ok("/x").is_ok());
        let err = env(&[("P", "/aws/x")])
            .parameter_path_or("P", "/d")
            .unwrap_err();
        assert_eq!(err.var, "P");
        assert!(err.problem.contains("reserved"), "{}", err.problem);
    }

    #[test]
    fn required_names_the_variable() {
        let err = env(&[]).required("NOTIFY_TOPIC_ARN").unwrap_err();
        assert_eq!(
            err.to_string(),
            "setting NOTIFY_TOPIC_ARN: is required but not set"
        );
        assert!(env(&[("NOTIFY_TOPIC_ARN", "  ")])
            .required("NOTIFY_TOPIC_ARN")
            .is_err());
    }

    #[test]
    fn topic_arn_is_checked() {
        let good = "arn:aws:sns:us-east-1:123456789012:livepatch";
        assert_eq!(env(&[("T", good)]).topic_arn("T").unwrap(), good);
        for bad in [
            "livepatch",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws:sns:us-east-1:123456789012:",
        ] {
            let err = env(&[("T", bad)]).topic_arn("T").unwrap_err();
            assert_eq!(err.var, "T");
            assert!(err.problem.contains("not an SNS topic ARN"), "{bad}");
        }
    }

    #[test]
    fn booleans() {
        assert!(env(&[("D", "TRUE")]).bool_or("D", false).unwrap());
        assert!(!env(&[("D", "no")]).bool_or("D", true).unwrap());
        assert!(env(&[]).bool_or("D", true).unwrap());
        assert!(env(&[("D", "maybe")]).bool_or("D", false).is_err());
    }

    #[test]
    fn integers_in_range() {
        assert_eq!(
            env(&[("N", "60")])
                .int_in_or("N", 30..=2_592_000, 600)
                .unwrap(),
            60
        );
        assert_eq!(env(&[]).int_in_or("N", 30..=2_592_000, 600).unwrap(), 600);
        let err = env(&[("N", "10")])
            .int_in_or("N", 30..=2_592_000, 600)
            .unwrap_err();
        assert!(err.problem.contains("outside 30..=2592000"), "{err}");
        assert!(env(&[("N", "ten")]).int_in_or("N", 0..=1, 0).is_err());
    }

    #[test]
    fn floats_in_range() {
        let e = env(&[("F", "0.25"), ("B", "1.5"), ("N", "NaN"), ("X", "half")]);
        assert_eq!(e.float_in_or("F", 0.0, 1.0, 0.5).unwrap(), 0.25);
        assert_eq!(e.float_in_or("UNSET", 0.0, 1.0, 0.5).unwrap(), 0.5);
        let err = e.float_in_or("B", 0.0, 1.0, 0.5).unwrap_err();
        assert!(err.problem.contains("outside 0..=1"), "{err}");
        assert!(e.float_in_or("N", 0.0, 1.0, 0.5).is_err());
        assert_eq!(e.float_in_or("X", 0.0, 1.0, 0.5).unwrap_err().var, "X");
    }

    #[test]
    fn rates() {
        let e = env(&[("C", "10%"), ("Z", "0"), ("P", "101%"), ("X", "ten")]);
        assert_eq!(e.rate_or("C", "5", false).unwrap(), "10%");
        assert_eq!(e.rate_or("Z", "5", true).unwrap(), "0");
        assert!(e.rate_or("Z", "5", false).is_err());
        assert!(e.rate_or("P", "5", false).is_err());
        assert!(e.rate_or("X", "5", false).is_err());
        assert_eq!(e.rate_or("UNSET", "50", false).unwrap(), "50");
    }

    #[test]
    fn tag_filters_parse_and_refuse() {
        let f = env(&[("T", "Environment=prod, Service=web|api")])
            .tag_filters("T")
            .unwrap();
        assert_eq!(f["Environment"], vec!["prod"]);
        assert_eq!(f["Service"], vec!["web", "api"]);
        assert!(env(&[]).tag_filters("T").unwrap().is_empty());
        for bad in [
            "Environment",
            "=prod",
            "Env=",
            "A=1,A=2",
            "A=1,B=1,C=1,D=1,E=1,F=1",
        ] {
            let err = env(&[("T", bad)]).tag_filters("T").unwrap_err();
            assert_eq!(err.var, "T", "{bad}");
        }
    }
}
