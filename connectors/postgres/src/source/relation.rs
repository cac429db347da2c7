//! The relation cache: what each relation id in the stream means now.
//!
//! pgoutput sends a Relation message before a relation's first change in a session and again
//! whenever it changes. Each entry holds the table schema Sluice publishes (captured columns
//! only, source column order, key = primary key, else the replica-identity columns), the parse
//! kind of every wire column, and where each wire column goes in the published row.
//!
//! Invariant: the `Arc<TableSchema>` of an entry is replaced — with `version + 1` — only when the
//! published columns actually changed, so an unchanged Relation message (sent again after a
//! reconnect or cache invalidation) does not register a new schema.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_core::{Column, TableId, TableSchema};
use tokio_postgres::Client;

use super::config::PgSourceConfig;
use super::pgoutput::RelationColumn;
use super::types::{PgKind, TypeResolver};
use crate::error::PgError;

pub struct Relation {
    pub schema: Arc<TableSchema>,
    pub captured: bool,
    /// Per wire column: its parse kind and its index in the published row (None = excluded).
    pub wire: Vec<(PgKind, Option<usize>)>,
}

#[derive(Default)]
pub struct RelationCache {
    pub relations: HashMap<u32, Relation>,
    /// Latest version per table, so a table whose relation id changes (dropped and re-created)
    /// keeps increasing versions.
    versions: HashMap<TableId, u32>,
    resolver: TypeResolver,
}

fn catalog_err(e: &tokio_postgres::Error) -> PgError {
    let kind = if e.as_db_error().is_some() {
        sluice_core::ErrorKind::Fatal
    } else {
        sluice_core::ErrorKind::Retriable
    };
    PgError::Source { reason: format!("reading the catalog for a relation: {e}"), kind }
}

impl RelationCache {
    pub fn get(&self, relid: u32) -> Option<&Relation> {
        self.relations.get(&relid)
    }

    /// Apply a Relation message.
    pub async fn update(
        &mut self,
        client: &Client,
        cfg: &PgSourceConfig,
        relid: u32,
        namespace: &str,
        name: &str,
        columns: &[RelationColumn],
    ) -> Result<(), PgError> {
        let id = TableId::new(namespace, name);
        // Signal-table changes are decoded (the source acts on them) but never published.
        let captured = cfg.captures_table(&id) || cfg.is_signal_table(&id);
        // Nullability, source type names and the primary key come from the catalog; types
        // (OID, typmod) from the message, which reflects the WAL position. `indkey` is an
        // int2vector, whose subscripts start at 0: the key position is made 1-based so the first
        // key column is not mistaken for "not in the key".
        let rows = client
            .query(
                "SELECT a.attname::text, a.attnotnull, format_type(a.atttypid, a.atttypmod), \
                 COALESCE(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0)::int4, \
                 a.attndims::int4, \
                 (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) \
                 FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
                &[&relid],
            )
            .await
            .map_err(|e| catalog_err(&e))?;
        let catalog: HashMap<String, (bool, String, i32)> = rows
            .iter()
            .map(|r| {
                (r.get::<_, String>(0), (r.get::<_, bool>(1), r.get::<_, String>(2), r.get::<_, i32>(3)))
            })
            .collect();
        let defaults: HashMap<String, String> = rows
            .iter()
            .filter_map(|r| Some((r.get::<_, String>(0), constant_default(&r.get::<_, Option<String>>(5)?)?)))
            .collect();
        // Columns declared with two or more array dimensions: carried as their text.
        let multi_dim: std::collections::HashSet<String> =
            rows.iter().filter(|r| r.get::<_, i32>(4) > 1).map(|r| r.get::<_, String>(0)).collect();

        let mut out_columns = Vec::new();
        let mut wire = Vec::with_capacity(columns.len());
        let mut pk: Vec<(i32, usize)> = Vec::new();
        let mut ident: Vec<usize> = Vec::new();
        for c in columns {
            let mut kind =
                self.resolver.resolve(client, c.type_oid, c.typmod).await.map_err(|e| catalog_err(&e))?;
            if matches!(kind, PgKind::Array { .. }) && multi_dim.contains(&c.name) {
                kind = PgKind::Text;
            }
            if !captured || cfg.excludes_column(&id, &c.name) {
                wire.push((kind, None));
                continue;
            }
            let (notnull, source_type, pk_pos) =
                catalog.get(&c.name).cloned().unwrap_or_else(|| (false, format!("oid {}", c.type_oid), 0));
            let idx = out_columns.len();
            if pk_pos > 0 {
                pk.push((pk_pos, idx));
            }
            if c.is_key {
                ident.push(idx);
            }
            out_columns.push(
                Column::new(c.name.clone(), kind.data_type(), source_type, !notnull)
                    .with_default(defaults.get(&c.name).cloned()),
            );
            wire.push((kind, Some(idx)));
        }
        pk.sort_unstable();
        let key: Vec<usize> = if pk.is_empty() { ident } else { pk.into_iter().map(|(_, i)| i).collect() };

        let previous = self.relations.get(&relid).map(|r| r.schema.clone());
        let unchanged =
            previous.as_ref().is_some_and(|p| p.id == id && p.columns == out_columns && p.key == key);
        let schema = match previous {
            Some(p) if unchanged => p,
            _ => {
                let v = self.versions.entry(id.clone()).or_insert(0);
                *v += 1;
                Arc::new(TableSchema { id, columns: out_columns, key, version: *v })
            }
        };
        self.relations.insert(relid, Relation { schema, captured, wire });
        Ok(())
    }
}

/// A column default that is a constant (`42`, `-1.5`, `true`, `'x'::character varying`), as the
/// literal's text; expressions (`nextval(…)`, `now()`, casts of expressions) give `None`.
fn constant_default(expr: &str) -> Option<String> {
    let e = expr.trim();
    if let Some(rest) = e.strip_prefix('\'') {
        // 'text'::type — the literal with '' unescaped, when nothing but a cast follows it.
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                let tail: String = chars.collect();
                let tail = tail.trim();
                let cast_only = tail.is_empty()
                    || tail
                        .strip_prefix("::")
                        .is_some_and(|t| t.chars().all(|c| c.is_alphanumeric() || " _\".()[]".contains(c)));
                return cast_only.then_some(out);
            }
            out.push(c);
        }
        return None;
    }
    let bare = e.trim_start_matches('(').trim_end_matches(')');
    let digits = bare.strip_prefix('-').unwrap_or(bare);
    let is_number =
        digits.chars().all(|c| c.is_ascii_digit() || c == '.') && digits.chars().any(|c| c.is_ascii_digit());
    (is_number || bare == "true" || bare == "false").then(|| bare.to_owned())
}

#[cfg(test)]
mod tests {
    use super::constant_default;

    #[test]
    fn only_constant_defaults_are_carried() {
        assert_eq!(constant_default("42").as_deref(), Some("42"));
        assert_eq!(constant_default("'-1'::integer").as_deref(), Some("-1"));
        assert_eq!(constant_default("(-1.5)").as_deref(), Some("-1.5"));
        assert_eq!(constant_default("true").as_deref(), Some("true"));
        assert_eq!(constant_default("'it''s'::character varying").as_deref(), Some("it's"));
        assert_eq!(constant_default("nextval('t_id_seq'::regclass)"), None);
        assert_eq!(constant_default("now()"), None);
        assert_eq!(constant_default("('x'::text || 'y'::text)"), None);
    }
}
