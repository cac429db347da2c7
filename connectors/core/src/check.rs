//! Results of preflight checks (`sluice check`, and the checks every task runs at start).
//!
//! A check is a small named function in a connector crate (`ensure_wal_level_logical`,
//! `ensure_binlog_format_row`, ...) that returns one [`Check`]. A failed check always says what
//! was expected and what was found, so the operator can fix the setting without reading code.

use std::fmt;

/// The outcome of one preflight check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The requirement holds; the detail says what was seen (e.g. `logical`).
    Pass { detail: String },
    /// A setting has the wrong value.
    Fail { expected: String, actual: String },
    /// The check could not run (connection refused, authentication failed, ...).
    Error { message: String },
}

/// One named check against one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The endpoint's name in the config, e.g. `source` or `sink`.
    pub endpoint: String,
    /// What was checked, e.g. `wal_level` or `connect`.
    pub name: String,
    pub outcome: CheckOutcome,
    /// What to do about a failure; empty when passing.
    pub hint: String,
}

impl Check {
    pub fn pass(endpoint: &str, name: &str, detail: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            name: name.to_owned(),
            outcome: CheckOutcome::Pass { detail: detail.into() },
            hint: String::new(),
        }
    }

    pub fn fail(
        endpoint: &str,
        name: &str,
        expected: impl Into<String>,
        actual: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            name: name.to_owned(),
            outcome: CheckOutcome::Fail { expected: expected.into(), actual: actual.into() },
            hint: hint.into(),
        }
    }

    pub fn error(endpoint: &str, name: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            name: name.to_owned(),
            outcome: CheckOutcome::Error { message: message.into() },
            hint: hint.into(),
        }
    }

    /// A check built from a comparison of an expected and an actual setting.
    pub fn expect_eq(endpoint: &str, name: &str, expected: &str, actual: &str, hint: &str) -> Self {
        if expected.eq_ignore_ascii_case(actual) {
            Self::pass(endpoint, name, actual)
        } else {
            Self::fail(endpoint, name, expected, actual, hint)
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self.outcome, CheckOutcome::Pass { .. })
    }
}

impl fmt::Display for Check {
    /// One line per check: `PASS source.wal_level: logical` or
    /// `FAIL source.wal_level: expected logical, found replica (hint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            CheckOutcome::Pass { detail } => write!(f, "PASS {}.{}: {}", self.endpoint, self.name, detail),
            CheckOutcome::Fail { expected, actual } => {
                write!(f, "FAIL {}.{}: expected {}, found {}", self.endpoint, self.name, expected, actual)?;
                if !self.hint.is_empty() {
                    write!(f, " — {}", self.hint)?;
                }
                Ok(())
            }
            CheckOutcome::Error { message } => {
                write!(f, "FAIL {}.{}: {}", self.endpoint, self.name, message)?;
                if !self.hint.is_empty() {
                    write!(f, " — {}", self.hint)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_expected_and_actual() {
        let c = Check::expect_eq(
            "source",
            "wal_level",
            "logical",
            "replica",
            "set wal_level=logical and restart",
        );
        assert!(!c.passed());
        assert_eq!(
            c.to_string(),
            "FAIL source.wal_level: expected logical, found replica — set wal_level=logical and restart"
        );
        let ok = Check::expect_eq("source", "binlog_format", "ROW", "row", "");
        assert!(ok.passed());
        assert_eq!(ok.to_string(), "PASS source.binlog_format: row");
    }
}
