//! Names: Avro-safe identifiers (Debezium's sanitizing rule) and registry subject strategies.

use serde::Deserialize;

/// Replace every character that Avro does not allow in a name with `_`, and prefix a leading
/// digit with `_`, as Debezium does with `schema.name.adjustment.mode=avro`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, ch) in name.chars().enumerate() {
        let ok = ch.is_ascii_alphanumeric() || ch == '_';
        if i == 0 && ch.is_ascii_digit() {
            out.push('_');
        }
        out.push(if ok { ch } else { '_' });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// A dotted namespace with each part sanitized.
pub fn sanitize_namespace(ns: &str) -> String {
    ns.split('.').map(sanitize).collect::<Vec<_>>().join(".")
}

/// How registry subjects are named (Confluent's `*.subject.name.strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (default).
    #[default]
    TopicName,
    /// The record's fully-qualified name.
    RecordName,
    /// `<topic>-<fully-qualified record name>`.
    TopicRecordName,
}

impl SubjectNameStrategy {
    pub fn subject(self, topic: &str, is_key: bool, record_fullname: &str) -> String {
        match self {
            SubjectNameStrategy::TopicName => format!("{topic}-{}", if is_key { "key" } else { "value" }),
            SubjectNameStrategy::RecordName => record_fullname.to_owned(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{record_fullname}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_like_debezium() {
        assert_eq!(sanitize("order-items"), "order_items");
        assert_eq!(sanitize("1st"), "_1st");
        assert_eq!(sanitize("ok_Name9"), "ok_Name9");
        assert_eq!(sanitize_namespace("my-db.public.t t"), "my_db.public.t_t");
    }

    #[test]
    fn subject_strategies() {
        let s = SubjectNameStrategy::TopicName;
        assert_eq!(s.subject("p.s.t", true, "p.s.t.Key"), "p.s.t-key");
        assert_eq!(s.subject("p.s.t", false, "p.s.t.Envelope"), "p.s.t-value");
        assert_eq!(SubjectNameStrategy::RecordName.subject("x", false, "p.s.t.Envelope"), "p.s.t.Envelope");
        assert_eq!(SubjectNameStrategy::TopicRecordName.subject("x", true, "p.s.t.Key"), "x-p.s.t.Key");
    }
}
