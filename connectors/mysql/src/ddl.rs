//! What a QUERY event means for the change stream: a transaction boundary (BEGIN, COMMIT,
//! ROLLBACK, XA), a DDL statement and the tables it touches (TRUNCATE becomes a truncate event,
//! other DDL invalidates cached definitions), statement-based DML (not decodable), or nothing.
//!
//! This is a small tokenizer, not a SQL parser: it reads the leading keywords and the table names
//! that follow them, honouring backquotes, comments and `/*!NNNNN … */` version comments. Any DDL
//! it cannot attribute to tables is reported with `tables: None`, which makes the tracker forget
//! every cached definition — always safe, merely slower.

use sluice_core::TableId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryKind {
    Begin,
    Commit,
    Rollback,
    /// SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT: inside a transaction, no effect here.
    Savepoint,
    XaStart,
    XaEnd,
    XaPrepare,
    /// XA COMMIT / XA ROLLBACK of a prepared transaction.
    XaFinish,
    Ddl(Ddl),
    /// Statement-based DML (INSERT/UPDATE/DELETE/REPLACE/LOAD as SQL text).
    Dml,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ddl {
    /// Tables emptied by `TRUNCATE TABLE`.
    pub truncated: Vec<TableId>,
    /// Tables whose definition may have changed; `None` when unknown.
    pub tables: Option<Vec<TableId>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Punct(char),
}

impl Tok {
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            if chars.get(i + 2) == Some(&'!') {
                // Version comment: its body is SQL. Skip `/*!` and the version digits.
                i += 3;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
        } else if c == '*' && chars.get(i + 1) == Some(&'/') {
            i += 2; // end of a version comment
        } else if c == '#' || (c == '-' && chars.get(i + 1) == Some(&'-')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '`' || c == '"' || c == '\'' {
            let q = c;
            let mut s = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == q {
                    if chars.get(i + 1) == Some(&q) {
                        s.push(q);
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Quoted(s));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    default_db: &'a str,
}

impl Parser<'_> {
    fn peek_kw(&self, kw: &str) -> bool {
        self.toks.get(self.at).is_some_and(|t| t.is_kw(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.peek_kw(kw);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        let save = self.at;
        if kws.iter().all(|k| self.eat_kw(k)) {
            return true;
        }
        self.at = save;
        false
    }

    fn ident(&mut self) -> Option<String> {
        match self.toks.get(self.at)? {
            Tok::Word(w) | Tok::Quoted(w) => {
                let w = w.clone();
                self.at += 1;
                Some(w)
            }
            Tok::Punct(_) => None,
        }
    }

    /// `name` or `db.name`.
    fn table(&mut self) -> Option<TableId> {
        let first = self.ident()?;
        if self.toks.get(self.at) == Some(&Tok::Punct('.')) {
            self.at += 1;
            let second = self.ident()?;
            Some(TableId::new(first, second))
        } else {
            Some(TableId::new(self.default_db, first))
        }
    }

    /// `a, b, c`.
    fn table_list(&mut self) -> Option<Vec<TableId>> {
        let mut v = vec![self.table()?];
        while self.toks.get(self.at) == Some(&Tok::Punct(',')) {
            self.at += 1;
            v.push(self.table()?);
        }
        Some(v)
    }
}

fn ddl(tables: Option<Vec<TableId>>) -> QueryKind {
    QueryKind::Ddl(Ddl { truncated: Vec::new(), tables })
}

/// Classify a QUERY event's statement; `default_db` is the event's current database.
pub fn classify(sql: &str, default_db: &str) -> QueryKind {
    let mut p = Parser { toks: tokenize(sql), at: 0, default_db };
    if p.eat_kw("BEGIN") || p.eat_kws(&["START", "TRANSACTION"]) {
        return QueryKind::Begin;
    }
    if p.eat_kw("COMMIT") {
        return QueryKind::Commit;
    }
    if p.eat_kw("ROLLBACK") {
        return if p.peek_kw("TO") { QueryKind::Savepoint } else { QueryKind::Rollback };
    }
    if p.eat_kw("SAVEPOINT") || p.eat_kw("RELEASE") {
        return QueryKind::Savepoint;
    }
    if p.eat_kw("XA") {
        return if p.eat_kw("START") || p.eat_kw("BEGIN") {
            QueryKind::XaStart
        } else if p.eat_kw("END") {
            QueryKind::XaEnd
        } else if p.eat_kw("PREPARE") {
            QueryKind::XaPrepare
        } else {
            QueryKind::XaFinish
        };
    }
    for dml in ["INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD"] {
        if p.peek_kw(dml) {
            return QueryKind::Dml;
        }
    }
    if p.eat_kw("TRUNCATE") {
        p.eat_kw("TABLE");
        return match p.table() {
            Some(t) => QueryKind::Ddl(Ddl { truncated: vec![t.clone()], tables: Some(vec![t]) }),
            None => ddl(None),
        };
    }
    if p.eat_kw("RENAME") {
        if !p.eat_kw("TABLE") && !p.eat_kw("TABLES") {
            return ddl(None);
        }
        let mut tables = Vec::new();
        loop {
            let Some(from) = p.table() else { return ddl(None) };
            if !p.eat_kw("TO") {
                return ddl(None);
            }
            let Some(to) = p.table() else { return ddl(None) };
            tables.push(from);
            tables.push(to);
            if p.toks.get(p.at) == Some(&Tok::Punct(',')) {
                p.at += 1;
            } else {
                return ddl(Some(tables));
            }
        }
    }
    let verb = if p.eat_kw("CREATE") {
        "CREATE"
    } else if p.eat_kw("ALTER") {
        "ALTER"
    } else if p.eat_kw("DROP") {
        "DROP"
    } else {
        return QueryKind::Other;
    };
    p.eat_kws(&["OR", "REPLACE"]);
    for modifier in ["TEMPORARY", "ONLINE", "OFFLINE", "IGNORE", "UNIQUE", "FULLTEXT", "SPATIAL"] {
        p.eat_kw(modifier);
    }
    if p.eat_kw("TABLE") {
        p.eat_kws(&["IF", "NOT", "EXISTS"]);
        p.eat_kws(&["IF", "EXISTS"]);
        return ddl(if verb == "DROP" { p.table_list() } else { p.table().map(|t| vec![t]) });
    }
    if p.eat_kw("INDEX") || p.eat_kw("KEY") {
        // CREATE INDEX i ON t …; DROP INDEX i ON t
        p.eat_kws(&["IF", "NOT", "EXISTS"]);
        p.eat_kws(&["IF", "EXISTS"]);
        let _ = p.ident();
        while p.at < p.toks.len() && !p.peek_kw("ON") {
            p.at += 1;
        }
        return ddl(if p.eat_kw("ON") { p.table().map(|t| vec![t]) } else { None });
    }
    // Objects that never change a table's columns.
    for other in [
        "VIEW",
        "PROCEDURE",
        "FUNCTION",
        "TRIGGER",
        "EVENT",
        "USER",
        "ROLE",
        "SERVER",
        "SEQUENCE",
        "DEFINER",
        "ALGORITHM",
        "SQL",
        "AGGREGATE",
        "PACKAGE",
        "LOGFILE",
        "TABLESPACE",
    ] {
        if p.peek_kw(other) {
            return QueryKind::Other;
        }
    }
    // DATABASE/SCHEMA and anything unrecognised: scope unknown.
    ddl(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn t(s: &str, n: &str) -> TableId {
        TableId::new(s, n)
    }

    #[test]
    fn boundaries() {
        assert_eq!(classify("BEGIN", "d"), QueryKind::Begin);
        assert_eq!(classify("COMMIT", "d"), QueryKind::Commit);
        assert_eq!(classify("ROLLBACK", "d"), QueryKind::Rollback);
        assert_eq!(classify("ROLLBACK TO SAVEPOINT s", "d"), QueryKind::Savepoint);
        assert_eq!(classify("XA START X'01',X'',1", "d"), QueryKind::XaStart);
        assert_eq!(classify("XA PREPARE X'01'", "d"), QueryKind::XaPrepare);
        assert_eq!(classify("XA COMMIT X'01'", "d"), QueryKind::XaFinish);
        assert_eq!(classify("insert into t values (1)", "d"), QueryKind::Dml);
    }

    #[test]
    fn truncate_and_ddl_tables() {
        assert_eq!(
            classify("TRUNCATE TABLE `sh op`.`or``ders`", "d"),
            QueryKind::Ddl(Ddl {
                truncated: vec![t("sh op", "or`ders")],
                tables: Some(vec![t("sh op", "or`ders")])
            })
        );
        assert_eq!(
            classify("truncate items", "shop"),
            QueryKind::Ddl(Ddl {
                truncated: vec![t("shop", "items")],
                tables: Some(vec![t("shop", "items")])
            })
        );
        let tables = |q: &str| match classify(q, "d") {
            QueryKind::Ddl(d) => d.tables,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(tables("ALTER TABLE t ADD COLUMN c INT"), Some(vec![t("d", "t")]));
        assert_eq!(tables("/* x */ ALTER ONLINE TABLE db2.t ADD c INT"), Some(vec![t("db2", "t")]));
        assert_eq!(
            tables("DROP TABLE IF EXISTS `a`,`b` /* generated by server */"),
            Some(vec![t("d", "a"), t("d", "b")])
        );
        assert_eq!(tables("CREATE TABLE IF NOT EXISTS x (id int)"), Some(vec![t("d", "x")]));
        assert_eq!(tables("CREATE OR REPLACE TABLE x (id int)"), Some(vec![t("d", "x")]));
        assert_eq!(
            tables("RENAME TABLE a TO b, c TO e.f"),
            Some(vec![t("d", "a"), t("d", "b"), t("d", "c"), t("e", "f")])
        );
        assert_eq!(tables("CREATE UNIQUE INDEX i ON t (c)"), Some(vec![t("d", "t")]));
        assert_eq!(tables("DROP DATABASE d"), None);
        assert_eq!(tables("/*!40000 ALTER TABLE t DISABLE KEYS */"), Some(vec![t("d", "t")]));
        assert_eq!(classify("CREATE VIEW v AS SELECT 1", "d"), QueryKind::Other);
        assert_eq!(classify("FLUSH PRIVILEGES", "d"), QueryKind::Other);
    }
}
