//! Which tables the source captures: `schema.table` glob patterns.
//!
//! A pattern is matched against `database.table` as a whole, case-sensitively (MySQL on Linux
//! treats table names case-sensitively). `*` matches any run of characters (including `.`), `?`
//! exactly one character; everything else matches itself. A table is captured when it matches
//! at least one include pattern (or there are none) and no exclude pattern. The system schemas
//! `mysql`, `information_schema`, `performance_schema` and `sys` are never captured.
//!
//! Invariant: matching is a pure function of the name, so the decision for a table never changes
//! while the source runs and can be cached per table.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFilter {
    include: Vec<Vec<char>>,
    exclude: Vec<Vec<char>>,
}

const SYSTEM_SCHEMAS: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

impl TableFilter {
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        let compile = |v: &[String]| v.iter().map(|p| p.chars().collect()).collect();
        Self { include: compile(include), exclude: compile(exclude) }
    }

    /// Every non-system table.
    pub fn all() -> Self {
        Self { include: Vec::new(), exclude: Vec::new() }
    }

    pub fn is_system_schema(schema: &str) -> bool {
        SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(schema))
    }

    pub fn captures(&self, schema: &str, table: &str) -> bool {
        if Self::is_system_schema(schema) {
            return false;
        }
        let name: Vec<char> = format!("{schema}.{table}").chars().collect();
        let included = self.include.is_empty()
            || self.include.iter().any(|p| sluice_core::glob::matches_chars(p, &name));
        included && !self.exclude.iter().any(|p| sluice_core::glob::matches_chars(p, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(include: &[&str], exclude: &[&str]) -> TableFilter {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        TableFilter::new(&s(include), &s(exclude))
    }

    #[test]
    fn globs_match_whole_names() {
        let filter = f(&["shop.*", "crm.customer?"], &["shop.tmp_*"]);
        assert!(filter.captures("shop", "orders"));
        assert!(!filter.captures("shop", "tmp_x"));
        assert!(filter.captures("crm", "customers"));
        assert!(!filter.captures("crm", "customer"));
        assert!(!filter.captures("shopx", "orders"));
        assert!(!filter.captures("other", "t"));
    }

    #[test]
    fn empty_include_means_all_but_system() {
        let filter = TableFilter::all();
        assert!(filter.captures("app", "t"));
        assert!(!filter.captures("mysql", "user"));
        assert!(!filter.captures("performance_schema", "threads"));
        assert!(f(&["*"], &[]).captures("a", "b"));
        assert!(f(&["a*b.c"], &[]).captures("axxb", "c"));
        assert!(!f(&["a*b.c"], &[]).captures("axxb", "cd"));
        assert!(f(&["*.*_log"], &[]).captures("x", "audit_log"));
    }
}
