//! Table definitions from `information_schema`: the fallback when the binlog's TABLE_MAP lacks
//! names, signedness, charsets or ENUM/SET values (`binlog_row_metadata=MINIMAL`), the source of
//! MariaDB's JSON marker (a `json_valid` check constraint on a LONGTEXT column), and the
//! definition of a table truncated before any row of it was seen.
//!
//! Limit (documented in docs/mysql.md): `information_schema` describes the table as it is when
//! queried, not as it was when the binlog event was written. While the source lags behind a DDL,
//! a MINIMAL-metadata table may be described by its newer definition; the column count is
//! checked against the binlog, but a same-count change (a rename, a type change) is not
//! detectable. With `binlog_row_metadata=FULL` only the MariaDB JSON marker depends on it.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use sluice_core::TableId;

use super::column::{ColumnKind, GeometrySubtype};
use super::tablemap::TableDef;
use crate::charset::{Charset, Charsets, BINARY_COLLATION};
use crate::error::MySqlError;
use crate::server::col;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoColumn {
    pub name: String,
    /// `COLUMN_TYPE`, lower-cased: `int(10) unsigned`, `enum('a','b')`, `varchar(20)`.
    pub column_type: String,
    /// `CHARACTER_SET_NAME`; `None` for non-character and binary columns.
    pub charset: Option<String>,
    pub nullable: bool,
    /// The constant default's text (`COLUMN_DEFAULT`), when it is a literal.
    pub default: Option<String>,
    /// MariaDB JSON column (LONGTEXT with a `json_valid(col)` check).
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoTable {
    pub id: TableId,
    pub columns: Vec<InfoColumn>,
    /// Primary key column indexes in key order.
    pub key: Vec<usize>,
}

impl InfoTable {
    /// The table's current definition, or `None` when it does not exist.
    pub async fn load(conn: &mut Conn, id: &TableId) -> Result<Option<InfoTable>, MySqlError> {
        let params = (id.schema.as_str(), id.table.as_str());
        let rows: Vec<Row> = conn
            .exec(
                "SELECT COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, IS_NULLABLE, COLUMN_DEFAULT \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                 ORDER BY ORDINAL_POSITION",
                params,
            )
            .await
            .map_err(|e| MySqlError::query("information_schema.COLUMNS", &e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let key_rows: Vec<Row> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
                 ORDER BY ORDINAL_POSITION",
                params,
            )
            .await
            .map_err(|e| MySqlError::query("information_schema.KEY_COLUMN_USAGE", &e))?;
        // Only MariaDB has TABLE_NAME in CHECK_CONSTRAINTS; on MySQL the query fails and no
        // column is marked (MySQL JSON has its own binlog type).
        let checks: Vec<Row> = conn
            .exec(
                "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
                params,
            )
            .await
            .unwrap_or_default();
        let json_columns: Vec<String> =
            checks.iter().filter_map(|r| col::<String>(r, 0)).filter_map(|c| json_valid_column(&c)).collect();
        let key_names: Vec<String> = key_rows.iter().filter_map(|r| col(r, 0)).collect();
        let mut columns = Vec::with_capacity(rows.len());
        for r in &rows {
            let (Some(name), Some(column_type)) = (col::<String>(r, 0), col::<String>(r, 1)) else {
                return Err(MySqlError::Query {
                    context: "information_schema.COLUMNS",
                    reason: format!("column without name or type in {id}"),
                    kind: sluice_core::ErrorKind::Fatal,
                });
            };
            let column_type = column_type.to_ascii_lowercase();
            columns.push(InfoColumn {
                json: json_columns.contains(&name) && column_type.ends_with("text"),
                name,
                column_type,
                charset: col(r, 2),
                nullable: col::<String>(r, 3).is_some_and(|n| n.eq_ignore_ascii_case("YES")),
                default: col::<String>(r, 4).and_then(|d| constant_default(&d)),
            });
        }
        let key = key_names.iter().filter_map(|k| columns.iter().position(|c| &c.name == k)).collect();
        Ok(Some(InfoTable { id: id.clone(), columns, key }))
    }

    /// A definition from this alone (used when no TABLE_MAP was seen for the table).
    pub fn to_table_def(&self, charsets: &Charsets) -> Result<TableDef, String> {
        let mut kinds = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            let mut kind = parse_column_type(&c.column_type, c.charset.as_deref(), charsets)
                .map_err(|e| format!("column {} of {}: {e}", c.name, self.id))?;
            if let ColumnKind::Blob { json, .. } = &mut kind {
                *json = c.json;
            }
            kinds.push(kind);
        }
        Ok(TableDef::new(
            self.id.clone(),
            self.columns.iter().map(|c| c.name.clone()).collect(),
            kinds,
            self.columns.iter().map(|c| c.nullable).collect(),
            self.key.clone(),
        )
        .with_defaults(self.columns.iter().map(|c| c.default.clone()).collect()))
    }
}

/// A `COLUMN_DEFAULT` that is a literal, as its text: MariaDB quotes string literals (`'x'`)
/// and writes numbers bare; `NULL`, `current_timestamp()` and other expressions give `None`.
/// (MySQL 8 writes string defaults unquoted; those are not carried.)
pub fn constant_default(d: &str) -> Option<String> {
    let d = d.trim();
    if let Some(inner) = d.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(inner.replace("''", "'").replace("\\'", "'"));
    }
    let digits = d.strip_prefix('-').unwrap_or(d);
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '.')).then(|| d.to_owned())
}

/// `json_valid(`col`)` → `col` (MariaDB writes the check of a JSON column this way).
fn json_valid_column(clause: &str) -> Option<String> {
    let rest = clause.trim().strip_prefix("json_valid(`")?;
    let end = rest.find("`)")?;
    (rest.len() == end + 2).then(|| rest[..end].replace("``", "`"))
}

/// `'a','it''s'` → `["a", "it's"]`.
fn parse_quoted_list(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        match chars.next() {
            None => return Ok(out),
            Some(',') | Some(' ') => continue,
            Some('\'') => {
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated value in {s}")),
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            v.push('\'');
                        }
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => v.push(c),
                            None => return Err(format!("unterminated value in {s}")),
                        },
                        Some(c) => v.push(c),
                    }
                }
                out.push(v);
            }
            Some(c) => return Err(format!("unexpected {c:?} in value list {s}")),
        }
    }
}

/// Storage kind from a `COLUMN_TYPE` (lower-case) and `CHARACTER_SET_NAME`.
pub fn parse_column_type(
    column_type: &str,
    charset: Option<&str>,
    charsets: &Charsets,
) -> Result<ColumnKind, String> {
    let ct = column_type.trim();
    let (base, args, rest) = match ct.find('(') {
        Some(open) => {
            let close = ct.rfind(')').ok_or_else(|| format!("unbalanced parentheses in {ct}"))?;
            (&ct[..open], &ct[open + 1..close], &ct[close + 1..])
        }
        None => match ct.find(' ') {
            Some(sp) => (&ct[..sp], "", &ct[sp..]),
            None => (ct, "", ""),
        },
    };
    let unsigned = rest.contains("unsigned");
    let nums: Vec<u32> = args.split(',').filter_map(|a| a.trim().parse().ok()).collect();
    let num = |i: usize, default: u32| nums.get(i).copied().unwrap_or(default);
    let cs = || -> Result<Charset, String> {
        match charset {
            Some(name) => charsets.by_name(name).cloned().ok_or_else(|| format!("unknown charset {name}")),
            None => {
                charsets.by_collation(BINARY_COLLATION).cloned().ok_or_else(|| "no binary charset".into())
            }
        }
    };
    let fsp = || u8::try_from(num(0, 0)).unwrap_or(0);
    let blob = |len_bytes: u8| -> Result<ColumnKind, String> {
        Ok(ColumnKind::Blob { len_bytes, charset: cs()?, json: false })
    };
    let kind = match base.trim() {
        "tinyint" | "bool" | "boolean" => ColumnKind::Int { bytes: 1, unsigned },
        "smallint" => ColumnKind::Int { bytes: 2, unsigned },
        "mediumint" => ColumnKind::Int { bytes: 3, unsigned },
        "int" | "integer" => ColumnKind::Int { bytes: 4, unsigned },
        "bigint" => ColumnKind::Int { bytes: 8, unsigned },
        "float" if num(0, 0) <= 24 || nums.len() > 1 => ColumnKind::Float,
        "float" | "double" | "real" | "double precision" => ColumnKind::Double,
        "decimal" | "numeric" | "dec" | "fixed" => ColumnKind::Decimal {
            precision: u8::try_from(num(0, 10)).map_err(|_| format!("bad precision in {ct}"))?,
            scale: u8::try_from(num(1, 0)).map_err(|_| format!("bad scale in {ct}"))?,
        },
        "year" => ColumnKind::Year,
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Time2 { fsp: fsp() },
        "datetime" => ColumnKind::DateTime2 { fsp: fsp() },
        "timestamp" => ColumnKind::Timestamp2 { fsp: fsp() },
        "bit" => {
            ColumnKind::Bit { bits: u16::try_from(num(0, 1)).map_err(|_| format!("bad length in {ct}"))? }
        }
        "enum" => {
            let values = parse_quoted_list(args)?;
            ColumnKind::Enum { pack: if values.len() > 255 { 2 } else { 1 }, values }
        }
        "set" => {
            let values = parse_quoted_list(args)?;
            let pack = match values.len().div_ceil(8) {
                0 | 1 => 1,
                2 => 2,
                3 => 3,
                4 => 4,
                _ => 8,
            };
            ColumnKind::Set { pack, values }
        }
        "char" | "binary" | "varchar" | "varbinary" => {
            let charset = cs()?;
            let max_bytes = u16::try_from(num(0, 1) * u32::from(charset.max_len))
                .map_err(|_| format!("length of {ct} overflows"))?;
            if base.starts_with("var") {
                ColumnKind::VarChar { max_bytes, charset }
            } else {
                ColumnKind::Char { max_bytes, charset }
            }
        }
        "tinytext" | "tinyblob" => blob(1)?,
        "text" | "blob" => blob(2)?,
        "mediumtext" | "mediumblob" => blob(3)?,
        "longtext" | "longblob" => blob(4)?,
        "json" => ColumnKind::Json { len_bytes: 4 },
        g @ ("geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection") => {
            ColumnKind::Geometry { len_bytes: 4, subtype: GeometrySubtype::from_name(g) }
        }
        other => {
            return Err(format!(
                "column type {other} cannot be captured by Sluice: leave the table out (`exclude_tables`)"
            ))
        }
    };
    Ok(kind)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_column_types() {
        let cs = Charsets::builtin();
        let p = |t: &str, c: Option<&str>| parse_column_type(t, c, &cs).unwrap();
        assert_eq!(p("int(10) unsigned", None), ColumnKind::Int { bytes: 4, unsigned: true });
        assert_eq!(p("bigint(20)", None), ColumnKind::Int { bytes: 8, unsigned: false });
        assert_eq!(p("decimal(10,2)", None), ColumnKind::Decimal { precision: 10, scale: 2 });
        assert_eq!(p("datetime(6)", None), ColumnKind::DateTime2 { fsp: 6 });
        assert_eq!(p("varchar(20)", Some("utf8mb4")).source_type(), "varchar(20)");
        assert_eq!(p("binary(4)", None).source_type(), "binary(4)");
        assert_eq!(p("char(3)", Some("latin1")).source_type(), "char(3)");
        assert_eq!(
            p("enum('a','it''s','b,c')", Some("utf8mb4")),
            ColumnKind::Enum { pack: 1, values: vec!["a".into(), "it's".into(), "b,c".into()] }
        );
        assert!(matches!(p("set('x','y')", Some("utf8mb4")), ColumnKind::Set { pack: 1, .. }));
        assert_eq!(p("bit(5)", None), ColumnKind::Bit { bits: 5 });
        assert_eq!(p("point", None).source_type(), "point");
        assert_eq!(p("longtext", Some("utf8mb4")).source_type(), "longtext");
        assert_eq!(p("double", None), ColumnKind::Double);
        assert!(parse_column_type("vector(3)", None, &cs).is_err());
    }

    #[test]
    fn finds_mariadb_json_checks() {
        assert_eq!(json_valid_column("json_valid(`doc`)"), Some("doc".into()));
        assert_eq!(json_valid_column("json_valid(`doc`) and 1"), None);
        assert_eq!(json_valid_column("`a` > 0"), None);
    }
}
