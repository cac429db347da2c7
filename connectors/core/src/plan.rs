//! The keyed batch plan every keyed target shares: a batch of change events folded into one
//! final operation per key, so the target can run a few set-based statements in any key order.
//!
//! Rules (per target table): the last upsert of a key wins; a delete in between is honoured (a
//! later upsert re-creates the row); an upsert's [`PlanCell::is_unchanged`] cells take the values
//! of the earlier upsert of the same key in the batch (unchanged TOAST columns, merged); an update
//! whose key changed deletes the old key first, when the old key is fully known. Truncates are
//! the caller's: it runs them at once, in order, after [`KeyedPlan::clear`].
//!
//! Invariant: at most one final operation per key, so the order between keys does not matter;
//! the planned upserts are handed out grouped by which cells are unchanged (those columns are
//! neither inserted nor updated, so the target keeps them), groups in first-seen order.

use std::collections::HashMap;
use std::hash::Hash;

/// A target-side cell: hashable (keys), with a marker for "the source did not send it".
pub trait PlanCell: Clone + Eq + Hash {
    /// The source did not send this value; the target keeps its own.
    fn is_unchanged(&self) -> bool;
    /// SQL NULL.
    fn is_null(&self) -> bool;
}

/// A key's final operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final<C> {
    /// The whole row, in source column order.
    Upsert(Vec<C>),
    Delete,
}

/// Upserts sharing one set of sent columns (`mask[i]`: column i is sent).
pub type UpsertGroup<C> = (Vec<bool>, Vec<Vec<C>>);

/// The planned final operations of one table; keys in first-seen order.
#[derive(Debug)]
pub struct KeyedPlan<C> {
    order: Vec<Vec<C>>,
    ops: HashMap<Vec<C>, Final<C>>,
    /// Upserts (c/r), updates and deletes planned since the last flush, for metrics.
    pub counts: [u64; 3],
}

impl<C> Default for KeyedPlan<C> {
    fn default() -> Self {
        Self { order: Vec::new(), ops: HashMap::new(), counts: [0; 3] }
    }
}

impl<C: PlanCell> KeyedPlan<C> {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn set(&mut self, key: Vec<C>, op: Final<C>) {
        if !self.ops.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.ops.insert(key, op);
    }

    /// Plan a delete of `key`.
    pub fn delete(&mut self, key: Vec<C>) {
        self.set(key, Final::Delete);
        self.counts[2] += 1;
    }

    /// Plan an upsert of `row` under `key`; `old_key` is the key of the event's before image
    /// (an update), `update` tells an update from a create/read for the counts.
    pub fn upsert(&mut self, key: Vec<C>, old_key: Option<Vec<C>>, mut row: Vec<C>, update: bool) {
        if let Some(old) = old_key {
            if old != key && old.iter().all(|c| !c.is_null() && !c.is_unchanged()) {
                self.set(old, Final::Delete);
            }
        }
        if let Some(Final::Upsert(prev)) = self.ops.get(&key) {
            for (c, p) in row.iter_mut().zip(prev) {
                if c.is_unchanged() {
                    *c = p.clone();
                }
            }
        }
        self.set(key, Final::Upsert(row));
        self.counts[usize::from(update)] += 1;
    }

    /// Forget everything planned (the table is being truncated).
    pub fn clear(&mut self) {
        self.order.clear();
        self.ops.clear();
    }

    /// Empty the plan: the keys to delete, then the upserts grouped by sent columns.
    pub fn take(&mut self) -> (Vec<Vec<C>>, Vec<UpsertGroup<C>>) {
        let order = std::mem::take(&mut self.order);
        let mut ops = std::mem::take(&mut self.ops);
        let mut deletes = Vec::new();
        let mut groups: Vec<UpsertGroup<C>> = Vec::new();
        let mut index: HashMap<Vec<bool>, usize> = HashMap::new();
        for k in order {
            match ops.remove(&k) {
                Some(Final::Delete) => deletes.push(k),
                Some(Final::Upsert(row)) => {
                    let mask: Vec<bool> = row.iter().map(|c| !c.is_unchanged()).collect();
                    let at = *index.entry(mask.clone()).or_insert_with(|| {
                        groups.push((mask, Vec::new()));
                        groups.len() - 1
                    });
                    groups[at].1.push(row);
                }
                None => {}
            }
        }
        (deletes, groups)
    }
}

/// The final write of each document of a batch, for targets that write documents one by one
/// (DynamoDB items, OpenSearch documents): keyed by (target table, document id), in first-seen
/// order, a later write of an id replacing the earlier one. A truncate drops the table's writes
/// planned before it ([`Self::drop_table`]); the caller keeps the truncate itself.
#[derive(Debug)]
pub struct FoldedPlan<P> {
    slots: Vec<Option<P>>,
    at: HashMap<(String, String), usize>,
}

impl<P> Default for FoldedPlan<P> {
    fn default() -> Self {
        Self { slots: Vec::new(), at: HashMap::new() }
    }
}

impl<P> FoldedPlan<P> {
    /// The write planned for `id` of `table`, if any.
    pub fn get(&self, table: &str, id: &str) -> Option<&P> {
        let i = *self.at.get(&(table.to_owned(), id.to_owned()))?;
        self.slots.get(i)?.as_ref()
    }

    /// Plan `p` as the write of `id` of `table`, replacing an earlier one.
    pub fn set(&mut self, table: String, id: String, p: P) {
        use std::collections::hash_map::Entry;
        match self.at.entry((table, id)) {
            Entry::Occupied(e) => self.slots[*e.get()] = Some(p),
            Entry::Vacant(e) => {
                e.insert(self.slots.len());
                self.slots.push(Some(p));
            }
        }
    }

    /// Forget every write planned for `table`.
    pub fn drop_table(&mut self, table: &str) {
        let slots = &mut self.slots;
        self.at.retain(|(t, _), i| {
            if t == table {
                slots[*i] = None;
            }
            t != table
        });
    }

    /// Empty the plan: the writes in first-seen order.
    pub fn take(&mut self) -> Vec<P> {
        self.at.clear();
        std::mem::take(&mut self.slots).into_iter().flatten().collect()
    }

    pub fn clear(&mut self) {
        self.at.clear();
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    enum C {
        U,
        N,
        V(i32),
    }

    impl PlanCell for C {
        fn is_unchanged(&self) -> bool {
            *self == C::U
        }
        fn is_null(&self) -> bool {
            *self == C::N
        }
    }

    #[test]
    fn last_write_wins_unchanged_merges_and_key_changes_delete() {
        let mut p = KeyedPlan::default();
        p.upsert(vec![C::V(1)], None, vec![C::V(1), C::V(10), C::V(100)], false);
        p.upsert(vec![C::V(1)], Some(vec![C::V(1)]), vec![C::V(1), C::V(11), C::U], true);
        p.upsert(vec![C::V(3)], Some(vec![C::V(2)]), vec![C::V(3), C::U, C::V(300)], true);
        p.delete(vec![C::V(4)]);
        p.upsert(vec![C::V(5)], Some(vec![C::N]), vec![C::V(5), C::V(1), C::V(2)], true);
        let (deletes, groups) = p.take();
        assert_eq!(deletes, vec![vec![C::V(2)], vec![C::V(4)]]);
        // Key 1's unchanged column took the batch's earlier value.
        assert_eq!(groups[0].1[0], vec![C::V(1), C::V(11), C::V(100)]);
        assert_eq!(groups[0].1[1], vec![C::V(5), C::V(1), C::V(2)]);
        assert_eq!(groups[1], (vec![true, false, true], vec![vec![C::V(3), C::U, C::V(300)]]));
        assert_eq!(p.counts, [1, 3, 1]);
        assert!(p.is_empty());
    }

    #[test]
    fn a_delete_then_an_upsert_recreates_the_row() {
        let mut p = KeyedPlan::default();
        p.delete(vec![C::V(1)]);
        p.upsert(vec![C::V(1)], None, vec![C::V(1), C::V(2)], false);
        let (deletes, groups) = p.take();
        assert!(deletes.is_empty());
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn folded_plan_keeps_the_last_write_per_id_and_drops_truncated_tables() {
        let mut p = FoldedPlan::default();
        p.set("a".into(), "1".into(), 1);
        p.set("b".into(), "1".into(), 2);
        p.set("a".into(), "2".into(), 3);
        p.set("a".into(), "1".into(), 4);
        assert_eq!(p.get("a", "1"), Some(&4));
        p.drop_table("a");
        assert_eq!(p.get("a", "2"), None);
        p.set("a".into(), "2".into(), 5);
        assert_eq!(p.take(), vec![2, 5]);
        assert!(p.take().is_empty());
    }
}
