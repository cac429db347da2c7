//! Settings every relational sink shares: how target tables are named and what to do with a
//! source schema change that cannot be applied safely.
//!
//! Invariant: the same `(schema, table)` always maps to the same target name, so a restarted or
//! scaled-out sink writes where its predecessors wrote.

use serde::Deserialize;

/// What to do when a source schema change cannot be applied safely to the target (type
/// narrowing, a dropped NOT NULL column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaChanges {
    /// Stop the sink with an error naming the table and column (default).
    #[default]
    Fail,
    /// Log a warning and go on; later writes may then fail or lose precision.
    Ignore,
}

/// What a sink does with a value its target cannot hold (MariaDB has no `infinity`, `NaN` or
/// dates outside years 1–9999; PostgreSQL holds every value its sources produce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unrepresentable {
    /// Stop with an error naming table, column and value kind; under `on_error =
    /// "dead-letter"` the event goes to the dead-letter topic instead (default).
    #[default]
    Fail,
    /// Write NULL where the column is nullable (fail otherwise).
    Null,
    /// Write the nearest value the target holds: `±infinity` and out-of-range dates to the
    /// type's first/last value, `±Infinity` to the largest finite double, times to ±838:59:59;
    /// `NaN` has no nearest value and becomes NULL where the column is nullable.
    Clamp,
}

/// Counter every target keeps: events applied, labels `table` (target table, collection, key
/// prefix) and `op` (c/u/d/t; r counts as c).
pub const METRIC_APPLIED: &str = "sluice_sink_applied_events_total";

/// The default target table pattern: the source's schema and table name.
pub fn default_table_pattern() -> String {
    "{schema}.{table}".into()
}

/// `(schema, table)` of the target for a source table under `pattern`, in which `{schema}` and
/// `{table}` are replaced by the source's. The part before the first `.` is the target schema
/// (database, on MariaDB); without a `.`, `default_schema`.
pub fn target_name(pattern: &str, default_schema: &str, schema: &str, table: &str) -> (String, String) {
    let name = pattern.replace("{schema}", schema).replace("{table}", table);
    match name.split_once('.') {
        Some((s, t)) => (s.to_owned(), t.to_owned()),
        None => (default_schema.to_owned(), name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_splits_schema_and_table() {
        assert_eq!(target_name("{schema}.{table}", "public", "inv", "items"), ("inv".into(), "items".into()));
        assert_eq!(
            target_name("replica.{schema}_{table}", "public", "inv", "items"),
            ("replica".into(), "inv_items".into())
        );
        assert_eq!(target_name("{table}", "public", "inv", "items"), ("public".into(), "items".into()));
    }
}

/// What a sink process believes its stored offsets are: the ones it read at start, advanced by
/// each of its own commits. A commit writes a partition's offset only if the stored value still
/// equals this belief (a compare-and-set in the target's transaction), so a process whose
/// partition moved to another member of the group — and that the other member already advanced —
/// cannot move the stored offset, or the rows, back: its commit fails as retriable and it
/// rebuilds from the target's offsets.
#[derive(Debug, Clone, Default)]
pub struct OffsetFence {
    believed: std::collections::HashMap<(String, i32), i64>,
}

/// One offset write with the value it replaces (`None`: no row yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencedWrite<'a> {
    pub offset: &'a crate::BrokerOffset,
    pub expected: Option<i64>,
}

impl OffsetFence {
    /// Start from the offsets read from the target.
    pub fn reset(&mut self, stored: &[crate::BrokerOffset]) {
        self.believed = stored.iter().map(|o| ((o.topic.clone(), o.partition), o.next_offset)).collect();
    }

    /// The writes `offsets` needs: partitions whose offset changes, with the value each replaces.
    pub fn writes<'a>(&self, offsets: &'a [crate::BrokerOffset]) -> Vec<FencedWrite<'a>> {
        offsets
            .iter()
            .filter_map(|o| {
                let expected = self.believed.get(&(o.topic.clone(), o.partition)).copied();
                (expected != Some(o.next_offset)).then_some(FencedWrite { offset: o, expected })
            })
            .collect()
    }

    /// After the target committed `offsets`.
    pub fn advance(&mut self, offsets: &[crate::BrokerOffset]) {
        for o in offsets {
            self.believed.insert((o.topic.clone(), o.partition), o.next_offset);
        }
    }
}

/// The message of the retriable error a sink returns when fenced writes found other values.
pub fn fenced_message(written: usize, wanted: usize) -> String {
    format!(
        "{} of {wanted} partition offsets were advanced by another member of the consumer group since \
         this process read them; rolling back and resuming from the target's offsets",
        wanted.saturating_sub(written)
    )
}

#[cfg(test)]
mod fence_tests {
    use super::*;
    use crate::BrokerOffset;

    fn o(p: i32, n: i64) -> BrokerOffset {
        BrokerOffset { topic: "t".into(), partition: p, next_offset: n }
    }

    #[test]
    fn writes_carry_the_believed_value_and_skip_unchanged_partitions() {
        let mut f = OffsetFence::default();
        f.reset(&[o(0, 10)]);
        let offsets = [o(0, 10), o(1, 5)];
        let w = f.writes(&offsets);
        assert_eq!(w, vec![FencedWrite { offset: &offsets[1], expected: None }]);
        f.advance(&offsets);
        let next = [o(0, 12), o(1, 6)];
        let w = f.writes(&next);
        assert_eq!(w.iter().map(|x| x.expected).collect::<Vec<_>>(), vec![Some(10), Some(5)]);
    }
}
