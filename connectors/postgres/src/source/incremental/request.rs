//! One re-snapshot request: parsed from a signal row's `data` (Debezium's `execute-snapshot`
//! format), with the progress Sluice writes back into it (`sluice-progress`, `sluice-done`).
//!
//! Invariant: `progress_data` keeps every key of the original `data`, so a request read back
//! after a restart is the same request, resumed at its recorded table and key.

use std::collections::HashMap;

use serde_json::{json, Map, Value as Json};
use sluice_core::TableId;

/// Keys Sluice adds to a request's `data` to record its progress.
const PROGRESS_KEY: &str = "sluice-progress";
const DONE_KEY: &str = "sluice-done";

/// One re-snapshot request.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub(super) id: String,
    /// The request's `data`, kept to write progress back next to it.
    pub(super) data: Map<String, Json>,
    pub(super) tables: Vec<TableId>,
    pub(super) filters: HashMap<TableId, String>,
    /// Index into `tables` of the table being read.
    pub(super) table: usize,
    /// Text of the key columns of the last row emitted for `tables[table]`.
    pub(super) last_key: Option<Vec<String>>,
    /// The table's largest key when its re-read began: rows inserted later arrive by streaming,
    /// so the re-read stops there instead of chasing a growing table.
    pub(super) max_key: Option<Vec<String>>,
}

impl Request {
    pub(super) fn parse(id: String, data: &str) -> Result<Self, String> {
        let parsed: Json = serde_json::from_str(data).map_err(|e| format!("data is not JSON: {e}"))?;
        let Json::Object(data) = parsed else { return Err("data is not a JSON object".into()) };
        let tables: Vec<TableId> = data
            .get("data-collections")
            .and_then(Json::as_array)
            .ok_or("data has no \"data-collections\" array")?
            .iter()
            .map(|t| t.as_str().map(parse_table).ok_or("\"data-collections\" holds a non-string"))
            .collect::<Result<_, _>>()?;
        let mut filters = HashMap::new();
        for c in data.get("additional-conditions").and_then(Json::as_array).into_iter().flatten() {
            let (Some(t), Some(f)) =
                (c.get("data-collection").and_then(Json::as_str), c.get("filter").and_then(Json::as_str))
            else {
                return Err("each additional condition needs \"data-collection\" and \"filter\"".into());
            };
            filters.insert(parse_table(t), f.to_owned());
        }
        let progress = data.get(PROGRESS_KEY);
        let table = progress.and_then(|p| p.get("table")).and_then(Json::as_u64).unwrap_or(0) as usize;
        let key = |name: &str| {
            progress.and_then(|p| p.get(name)).and_then(|k| serde_json::from_value(k.clone()).ok())
        };
        let (last_key, max_key) = (key("last_key"), key("max_key"));
        Ok(Self { id, data, tables, filters, table, last_key, max_key })
    }

    pub(super) fn done(&self) -> bool {
        self.data.get(DONE_KEY).and_then(Json::as_bool).unwrap_or(false) || self.table >= self.tables.len()
    }

    /// `data` with the current progress recorded.
    pub(super) fn progress_data(&self) -> String {
        let mut d = self.data.clone();
        d.insert(
            PROGRESS_KEY.into(),
            json!({"table": self.table, "last_key": self.last_key, "max_key": self.max_key}),
        );
        if self.table >= self.tables.len() {
            d.insert(DONE_KEY.into(), Json::Bool(true));
        }
        Json::Object(d).to_string()
    }
}

/// `schema.table`, or `table` in `public`.
fn parse_table(s: &str) -> TableId {
    match s.split_once('.') {
        Some((schema, table)) => TableId::new(schema, table),
        None => TableId::new("public", s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_debezium_signals_and_progress() {
        let r = Request::parse(
            "a".into(),
            r#"{"data-collections": ["public.t", "u"], "additional-conditions": [{"data-collection": "public.t", "filter": "id > 5"}]}"#,
        )
        .unwrap();
        assert_eq!(r.tables, vec![TableId::new("public", "t"), TableId::new("public", "u")]);
        assert_eq!(r.filters.get(&TableId::new("public", "t")).map(String::as_str), Some("id > 5"));
        assert_eq!((r.table, r.last_key.clone(), r.done()), (0, None, false));
        let mut r2 = r.clone();
        r2.table = 1;
        r2.last_key = Some(vec!["7".into()]);
        let again = Request::parse("a".into(), &r2.progress_data()).unwrap();
        assert_eq!((again.table, again.last_key), (1, Some(vec!["7".into()])));
        r2.table = 2;
        assert!(Request::parse("a".into(), &r2.progress_data()).unwrap().done());
        assert!(Request::parse("b".into(), "{}").is_err());
        assert!(Request::parse("b".into(), "nope").is_err());
    }
}
