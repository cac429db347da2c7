//! SQL text helpers of MariaDB/MySQL, one copy for the source and the target.

/// `` `name` ``, with embedded `` ` `` doubled.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}
