//! Splitting each captured table into chunks, and the SQL that reads one chunk.
//!
//! A table with a primary key (or a replica-identity index) is split into key ranges by its key
//! columns: chunk `i` holds the keys in `(bounds[i-1], bounds[i]]`, the first chunk unbounded
//! below and the last unbounded above, so the chunks partition the key space whatever rows exist
//! — in this snapshot or a later one. That is what makes a resumed full load exact: a chunk
//! re-read from a newer snapshot holds exactly the keys it held before. A table without such a
//! key is split by heap pages (`ctid` ranges), which only the original snapshot reads exactly.
//!
//! Bounds are the key values of every `chunk_rows`-th row in key order, read once inside the
//! snapshot and kept as the types' text output (the session's output settings are pinned), cast
//! back with the column's type in the chunk query; row comparison `(a, b) > (x, y)` orders like
//! the key's btree index.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::error::PgError;

/// How one table is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Split {
    /// Key ranges; `bounds[i]` is the text of each key column of the last row of chunk `i`.
    Key { columns: Vec<String>, types: Vec<String>, bounds: Vec<Vec<String>> },
    /// Heap page ranges; chunk `i` reads pages `[pages[i-1], pages[i])`.
    Ctid { pages: Vec<u64> },
}

/// One table of a full load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TablePlan {
    pub schema: String,
    pub table: String,
    /// Rows expected (planner statistics or the split's row count), for progress reports.
    pub estimated_rows: u64,
    pub split: Split,
}

pub(crate) use crate::sql::quote_ident;

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn query_err(context: &str, e: &tokio_postgres::Error) -> PgError {
    PgError::source_query(context, e)
}

impl sluice_core::ChunkedTable for TablePlan {
    fn table_id(&self) -> sluice_core::TableId {
        sluice_core::TableId::new(self.schema.as_str(), self.table.as_str())
    }

    fn estimated_rows(&self) -> u64 {
        self.estimated_rows
    }

    fn chunks(&self) -> usize {
        TablePlan::chunks(self)
    }

    fn chunk_range(&self, i: usize) -> String {
        TablePlan::chunk_range(self, i)
    }
}

impl TablePlan {
    pub fn name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    pub fn from_sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    pub fn chunks(&self) -> usize {
        match &self.split {
            Split::Key { bounds, .. } => bounds.len() + 1,
            Split::Ctid { pages } => pages.len() + 1,
        }
    }

    /// The `WHERE` condition selecting chunk `i`.
    pub fn chunk_filter(&self, i: usize) -> String {
        let mut conds = Vec::new();
        match &self.split {
            Split::Key { columns, types, bounds } => {
                let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
                let cols = format!("({})", cols.join(", "));
                let lit = |b: &[String]| {
                    let vals: Vec<String> =
                        b.iter().zip(types).map(|(v, t)| format!("{}::{t}", quote_literal(v))).collect();
                    format!("({})", vals.join(", "))
                };
                if i > 0 {
                    if let Some(b) = bounds.get(i - 1) {
                        conds.push(format!("{cols} > {}", lit(b)));
                    }
                }
                if let Some(b) = bounds.get(i) {
                    conds.push(format!("{cols} <= {}", lit(b)));
                }
            }
            Split::Ctid { pages } => {
                if i > 0 {
                    if let Some(p) = pages.get(i - 1) {
                        conds.push(format!("ctid >= '({p},0)'::tid"));
                    }
                }
                if let Some(p) = pages.get(i) {
                    conds.push(format!("ctid < '({p},0)'::tid"));
                }
            }
        }
        if conds.is_empty() {
            "true".into()
        } else {
            conds.join(" AND ")
        }
    }

    /// Chunk `i`'s range for log lines: `(a, b]` for keys, `pages [p, q)` for ctids.
    pub fn chunk_range(&self, i: usize) -> String {
        match &self.split {
            Split::Key { bounds, .. } => {
                let show = |b: Option<&Vec<String>>| b.map(|v| v.join(",")).unwrap_or_else(|| "∞".into());
                let lo = if i == 0 { "-∞".to_owned() } else { show(bounds.get(i - 1)) };
                format!("({lo}, {}]", show(bounds.get(i)))
            }
            Split::Ctid { pages } => {
                let lo = if i == 0 { 0 } else { pages.get(i - 1).copied().unwrap_or(0) };
                let hi = pages.get(i).map(u64::to_string).unwrap_or_else(|| "∞".into());
                format!("pages [{lo}, {hi})")
            }
        }
    }
}

/// The columns of the primary key, else of the replica-identity index, with their types.
pub(crate) async fn key_columns(client: &Client, oid: u32) -> Result<Vec<(String, String)>, PgError> {
    for which in ["indisprimary", "indisreplident"] {
        let rows = client
            .query(
                &format!(
                    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                     FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE i.indrelid = $1 AND i.{which} ORDER BY k.ord"
                ),
                &[&oid],
            )
            .await
            .map_err(|e| query_err("reading key columns", &e))?;
        if !rows.is_empty() {
            return Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect());
        }
    }
    Ok(Vec::new())
}

/// Plan one table inside the snapshot: estimate its rows and split it into chunks of about
/// `chunk_rows` rows.
pub async fn plan_table(
    client: &Client,
    oid: u32,
    schema: &str,
    table: &str,
    chunk_rows: u64,
) -> Result<TablePlan, PgError> {
    let chunk_rows = chunk_rows.max(1);
    let row = client
        .query_one(
            "SELECT c.reltuples::float8, c.relpages::int8, \
             pg_relation_size(c.oid) / current_setting('block_size')::int8 FROM pg_class c WHERE c.oid = $1",
            &[&oid],
        )
        .await
        .map_err(|e| query_err("reading table statistics", &e))?;
    let (reltuples, relpages, pages): (f64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    // The planner's own estimate: statistics' density times the current size.
    let estimate = if reltuples >= 0.0 && relpages > 0 {
        Some((reltuples / relpages as f64 * pages as f64) as u64)
    } else if reltuples >= 0.0 && pages == 0 {
        Some(0)
    } else {
        None
    };
    let from = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let key = key_columns(client, oid).await?;
    let small = estimate.is_some_and(|e| e <= chunk_rows / 2);
    let (split, estimated_rows) = if !key.is_empty() {
        let (columns, types): (Vec<String>, Vec<String>) = key.into_iter().unzip();
        let bounds = if small {
            Vec::new()
        } else {
            let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
            let texts: Vec<String> = cols.iter().map(|c| format!("{c}::text")).collect();
            let sql = format!(
                "SELECT {} FROM (SELECT {}, row_number() OVER (ORDER BY {}) AS sluice_rn FROM {from}) s \
                 WHERE sluice_rn % {chunk_rows} = 0 ORDER BY sluice_rn",
                texts.join(", "),
                cols.join(", "),
                cols.join(", ")
            );
            let rows =
                client.query(&sql, &[]).await.map_err(|e| query_err("splitting a table into chunks", &e))?;
            rows.iter().map(|r| (0..columns.len()).map(|i| r.get::<_, String>(i)).collect()).collect()
        };
        let counted = bounds.len() as u64 * chunk_rows;
        let est = estimate.unwrap_or(counted).max(counted);
        (Split::Key { columns, types, bounds }, est)
    } else {
        let est = match estimate {
            Some(e) => e,
            None => {
                let r = client
                    .query_one(&format!("SELECT count(*) FROM {from}"), &[])
                    .await
                    .map_err(|e| query_err("counting rows", &e))?;
                r.get::<_, i64>(0).max(0) as u64
            }
        };
        let pages = pages.max(0) as u64;
        let mut bounds = Vec::new();
        if est > chunk_rows && pages > 1 {
            let step = (pages * chunk_rows).div_ceil(est).max(1);
            let mut p = step;
            while p < pages {
                bounds.push(p);
                p += step;
            }
        }
        (Split::Ctid { pages: bounds }, est)
    };
    Ok(TablePlan { schema: schema.to_owned(), table: table.to_owned(), estimated_rows, split })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_chunks_partition_the_key_space() {
        let p = TablePlan {
            schema: "s".into(),
            table: "t\"x".into(),
            estimated_rows: 3,
            split: Split::Key {
                columns: vec!["a".into(), "b".into()],
                types: vec!["integer".into(), "text".into()],
                bounds: vec![vec!["10".into(), "o'k".into()], vec!["20".into(), "z".into()]],
            },
        };
        assert_eq!(p.chunks(), 3);
        assert_eq!(p.from_sql(), "\"s\".\"t\"\"x\"");
        assert_eq!(p.chunk_filter(0), "(\"a\", \"b\") <= ('10'::integer, 'o''k'::text)");
        assert_eq!(
            p.chunk_filter(1),
            "(\"a\", \"b\") > ('10'::integer, 'o''k'::text) AND (\"a\", \"b\") <= ('20'::integer, 'z'::text)"
        );
        assert_eq!(p.chunk_filter(2), "(\"a\", \"b\") > ('20'::integer, 'z'::text)");
        assert_eq!(p.chunk_range(1), "(10,o'k, 20,z]");
        let one = TablePlan { split: Split::Ctid { pages: vec![] }, ..p.clone() };
        assert_eq!((one.chunks(), one.chunk_filter(0).as_str()), (1, "true"));
        let pages = TablePlan { split: Split::Ctid { pages: vec![8, 16] }, ..p };
        assert_eq!(pages.chunk_filter(1), "ctid >= '(8,0)'::tid AND ctid < '(16,0)'::tid");
        assert_eq!(pages.chunk_range(2), "pages [16, ∞)");
    }

    #[test]
    fn plans_round_trip_through_json() {
        let p = TablePlan {
            schema: "public".into(),
            table: "t".into(),
            estimated_rows: 7,
            split: Split::Ctid { pages: vec![3] },
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"by\":\"ctid\""), "{json}");
        assert_eq!(serde_json::from_str::<TablePlan>(&json).unwrap(), p);
    }
}
