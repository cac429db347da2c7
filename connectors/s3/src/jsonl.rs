//! JSON Lines files: one object per row, metadata columns first, then the table's columns by
//! name. Values as `sluice_core::text::json_value` writes them, except decimals (in lists too),
//! which are strings with every digit (a JSON number would be read as a float by most readers).

use sluice_core::text::{json_string, json_value};
use sluice_core::{TableSchema, Value};

use crate::rows::FileRow;

pub fn encode(t: &TableSchema, rows: &[FileRow]) -> Vec<u8> {
    let mut out = String::with_capacity(rows.len() * 256);
    for r in rows {
        let m = &r.meta;
        out.push_str("{\"__op\":\"");
        out.push_str(m.op);
        out.push_str("\",\"__ts_ms\":");
        out.push_str(&m.ts_ms.to_string());
        out.push_str(",\"__source_pos\":");
        json_string(&m.pos, &mut out);
        out.push_str(",\"__txn_id\":");
        match &m.txn {
            Some(t) => json_string(t, &mut out),
            None => out.push_str("null"),
        }
        out.push_str(",\"__topic\":");
        json_string(&m.topic, &mut out);
        out.push_str(&format!(",\"__partition\":{},\"__offset\":{},\"__unchanged\":", m.partition, m.offset));
        if m.unchanged.is_empty() {
            out.push_str("null");
        } else {
            let names: Vec<Value> = m.unchanged.iter().map(|n| Value::Text(n.clone())).collect();
            json_value(&Value::Array(names), &mut out);
        }
        for (c, v) in t.columns.iter().zip(&r.image) {
            out.push(',');
            json_string(&c.name, &mut out);
            out.push(':');
            value(v, &mut out);
        }
        out.push_str("}\n");
    }
    out.into_bytes()
}

/// A value as `json_value` writes it, but decimals (in lists too) as strings.
fn value(v: &Value, out: &mut String) {
    match v {
        Value::Decimal(d) => json_string(d, out),
        Value::Array(items) if items.iter().any(|i| matches!(i, Value::Decimal(_))) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value(item, out);
            }
            out.push(']');
        }
        v => json_value(v, out),
    }
}
