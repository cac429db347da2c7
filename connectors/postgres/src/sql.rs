//! SQL text helpers of PostgreSQL, one copy for the source and the target.

/// `"name"`, with embedded `"` doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
