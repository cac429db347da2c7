//! The registry's in-memory state, built only by applying topic records in log order.
//!
//! [`State::apply`] is the one way state changes: the HTTP handlers never mutate it, they
//! produce records and wait until the reader has applied them. So every instance that reads
//! the same topic holds the same state, and a restart rebuilds it exactly.
//!
//! Invariants:
//! - The state is a function of the *latest value per key* plus log order, so replaying the
//!   compacted topic gives the same state as having read every record.
//! - A schema id exists while at least one subject version (soft-deleted or not) uses it; all
//!   versions using an id carry the same identity form. A record that binds an existing id to a
//!   different schema is a conflict (only possible with a broker that does not fence writers):
//!   the first binding wins, the record is skipped and logged, on every instance alike.
//! - `max_id` only grows: it is the largest id in any record ever applied, including the
//!   `SLUICE_MAX_ID` record that outlives compacted tombstones, so ids are never reused.
//!
//! Failure: a record whose schema no longer parses is logged and skipped; nothing here panics.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use apache_avro::Schema;

use crate::avro::{Level, ParsedSchema};
use crate::record::{Record, SchemaValue};

/// One registered version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionEntry {
    pub id: i32,
    pub deleted: bool,
}

/// A schema id: its text, identity form, parsed form, and the subject versions that use it.
#[derive(Debug)]
pub(crate) struct StoredSchema {
    pub text: String,
    pub identity: String,
    pub schema: Schema,
    pub uses: BTreeSet<(String, i32)>,
}

/// What the registry knows, rebuilt from the topic.
#[derive(Debug, Default)]
pub(crate) struct State {
    subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    schemas: BTreeMap<i32, StoredSchema>,
    ids_by_identity: HashMap<String, i32>,
    subject_levels: BTreeMap<String, Level>,
    global_level: Option<Level>,
    max_id: i32,
}

impl State {
    /// Applies one record read from the topic; false when it was skipped (logged).
    pub fn apply(&mut self, record: Record) -> bool {
        match record {
            Record::Schema { subject, version, value: Some(value) } => {
                return self.put_version(subject, version, value)
            }
            Record::Schema { subject, version, value: None } => self.remove_version(&subject, version),
            Record::Config { subject: Some(subject), level } => match level {
                Some(level) => {
                    self.subject_levels.insert(subject, level);
                }
                None => {
                    self.subject_levels.remove(&subject);
                }
            },
            Record::Config { subject: None, level } => self.global_level = level,
            Record::DeleteSubject { subject, version } => {
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    for (_, entry) in versions.range_mut(..=version) {
                        entry.deleted = true;
                    }
                }
            }
            Record::MaxId(id) => self.max_id = self.max_id.max(id),
            Record::Noop => {}
            Record::Ignored(keytype) => {
                tracing::debug!(keytype = %keytype, "registry topic record of unused type skipped");
            }
        }
        true
    }

    fn put_version(&mut self, subject: String, version: i32, value: SchemaValue) -> bool {
        self.max_id = self.max_id.max(value.id);
        if value.schema_type.as_deref().is_some_and(|t| t != "AVRO") {
            tracing::warn!(subject = %subject, version, "non-Avro schema in registry topic skipped");
            return false;
        }
        let id = value.id;
        let parsed = match ParsedSchema::parse(&value.schema) {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::warn!(subject = %subject, version, id, error = %e,
                    "unparsable schema in registry topic skipped");
                return false;
            }
        };
        if let Some(stored) = self.schemas.get(&id) {
            if stored.identity != parsed.identity {
                tracing::warn!(
                    subject = %subject, version, id,
                    "registry topic binds schema id to a second schema; record skipped"
                );
                return false;
            }
        }
        // Re-writing a version under its own id (a soft delete) only flips the flag.
        if let Some(entry) = self.subjects.get_mut(&subject).and_then(|vs| vs.get_mut(&version)) {
            if entry.id == id {
                entry.deleted = value.deleted;
                return true;
            }
        }
        self.remove_version(&subject, version);
        let stored = self.schemas.entry(id).or_insert_with(|| StoredSchema {
            text: value.schema,
            identity: parsed.identity.clone(),
            schema: parsed.schema,
            uses: BTreeSet::new(),
        });
        stored.uses.insert((subject.clone(), version));
        self.ids_by_identity
            .entry(parsed.identity)
            .and_modify(|existing| *existing = (*existing).min(id))
            .or_insert(id);
        self.subjects
            .entry(subject)
            .or_default()
            .insert(version, VersionEntry { id, deleted: value.deleted });
        true
    }

    fn remove_version(&mut self, subject: &str, version: i32) {
        let Some(versions) = self.subjects.get_mut(subject) else {
            return;
        };
        let Some(entry) = versions.remove(&version) else {
            return;
        };
        if versions.is_empty() {
            self.subjects.remove(subject);
        }
        let unused = match self.schemas.get_mut(&entry.id) {
            Some(stored) => {
                stored.uses.remove(&(subject.to_owned(), version));
                stored.uses.is_empty()
            }
            None => false,
        };
        if unused {
            if let Some(stored) = self.schemas.remove(&entry.id) {
                if self.ids_by_identity.get(&stored.identity) == Some(&entry.id) {
                    self.ids_by_identity.remove(&stored.identity);
                    // Another id with the same identity (only after a conflict) takes over.
                    if let Some((other, _)) = self.schemas.iter().find(|(_, s)| s.identity == stored.identity)
                    {
                        self.ids_by_identity.insert(stored.identity, *other);
                    }
                }
            }
        }
    }

    /// The versions of `subject`, oldest first; soft-deleted ones only if `deleted`.
    pub fn versions(&self, subject: &str, deleted: bool) -> Vec<(i32, VersionEntry)> {
        self.subjects
            .get(subject)
            .map(|vs| vs.iter().filter(|(_, e)| deleted || !e.deleted).map(|(v, e)| (*v, *e)).collect())
            .unwrap_or_default()
    }

    /// Whether `subject` has any version (soft-deleted ones count only if `deleted`).
    pub fn has_subject(&self, subject: &str, deleted: bool) -> bool {
        !self.versions(subject, deleted).is_empty()
    }

    /// Subject names in order; `deleted` adds those whose versions are all soft-deleted,
    /// `deleted_only` returns only those.
    pub fn subjects(&self, deleted: bool, deleted_only: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(_, vs)| {
                let live = vs.values().any(|e| !e.deleted);
                if deleted_only {
                    !live
                } else {
                    live || deleted
                }
            })
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The schema registered under `id`.
    pub fn schema(&self, id: i32) -> Option<&StoredSchema> {
        self.schemas.get(&id)
    }

    /// The id already given to a schema with this identity form, under any subject.
    pub fn id_for_identity(&self, identity: &str) -> Option<i32> {
        self.ids_by_identity.get(identity).copied()
    }

    /// The subject versions that use `id`; soft-deleted ones only if `deleted`.
    pub fn uses_of(&self, id: i32, deleted: bool) -> Vec<(String, i32)> {
        let Some(stored) = self.schemas.get(&id) else {
            return Vec::new();
        };
        stored
            .uses
            .iter()
            .filter(|(s, v)| {
                deleted || self.subjects.get(s).and_then(|vs| vs.get(v)).is_some_and(|e| !e.deleted)
            })
            .cloned()
            .collect()
    }

    /// The highest id ever allocated (0 when none was).
    pub fn max_id(&self) -> i32 {
        self.max_id
    }

    /// The highest version `subject` ever had that is still in the topic (0 when none).
    pub fn max_version(&self, subject: &str) -> i32 {
        self.subjects.get(subject).and_then(|vs| vs.keys().next_back().copied()).unwrap_or(0)
    }

    /// The subject-level compatibility setting, if any.
    pub fn subject_level(&self, subject: &str) -> Option<Level> {
        self.subject_levels.get(subject).copied()
    }

    /// The global level in force (BACKWARD unless set).
    pub fn global_level(&self) -> Level {
        self.global_level.unwrap_or_default()
    }

    /// The level that applies to `subject`: its own, else the global one.
    pub fn effective_level(&self, subject: &str) -> Level {
        self.subject_level(subject).unwrap_or_else(|| self.global_level())
    }

    /// Number of subjects with a live version and of schema ids (for gauges).
    pub fn sizes(&self) -> (usize, usize) {
        (self.subjects(false, false).len(), self.schemas.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn put(subject: &str, version: i32, id: i32, schema: &str, deleted: bool) -> Record {
        Record::Schema {
            subject: subject.into(),
            version,
            value: Some(SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema: schema.into(),
                deleted,
                schema_type: None,
            }),
        }
    }

    fn tombstone(subject: &str, version: i32) -> Record {
        Record::Schema { subject: subject.into(), version, value: None }
    }

    #[test]
    fn ids_are_shared_across_subjects_and_survive_soft_delete() {
        let mut s = State::default();
        s.apply(put("a", 1, 1, r#""string""#, false));
        s.apply(put("b", 1, 1, r#""string""#, false));
        s.apply(put("a", 2, 2, r#""int""#, false));
        assert_eq!(s.uses_of(1, false), vec![("a".into(), 1), ("b".into(), 1)]);
        assert_eq!(s.subjects(false, false), vec!["a", "b"]);
        s.apply(put("b", 1, 1, r#""string""#, true));
        assert_eq!(s.subjects(false, false), vec!["a"]);
        assert_eq!(s.subjects(true, false), vec!["a", "b"]);
        assert_eq!(s.subjects(false, true), vec!["b"]);
        assert_eq!(s.uses_of(1, false), vec![("a".into(), 1)]);
        assert!(s.schema(1).is_some());
        assert_eq!(s.max_version("b"), 1);
    }

    #[test]
    fn permanent_delete_forgets_the_id_but_not_the_maximum() {
        let mut s = State::default();
        s.apply(put("a", 1, 1, r#""string""#, true));
        s.apply(Record::MaxId(1));
        s.apply(tombstone("a", 1));
        assert!(s.schema(1).is_none());
        assert_eq!(s.id_for_identity(r#""string""#), None);
        assert!(!s.has_subject("a", true));
        assert_eq!(s.max_id(), 1);
        // A replay of the compacted topic (only the MaxId record left) agrees.
        let mut replay = State::default();
        replay.apply(Record::MaxId(1));
        assert_eq!(replay.max_id(), 1);
        assert!(replay.schema(1).is_none());
    }

    #[test]
    fn a_second_binding_of_an_id_is_skipped() {
        let mut s = State::default();
        s.apply(put("a", 1, 5, r#""string""#, false));
        s.apply(put("b", 1, 5, r#""int""#, false));
        assert!(!s.has_subject("b", true));
        assert_eq!(s.schema(5).map(|x| x.text.as_str()), Some(r#""string""#));
        assert_eq!(s.max_id(), 5);
    }

    #[test]
    fn configs_and_delete_subject_records() {
        let mut s = State::default();
        assert_eq!(s.effective_level("a"), Level::Backward);
        s.apply(Record::Config { subject: None, level: Some(Level::Full) });
        assert_eq!(s.effective_level("a"), Level::Full);
        s.apply(Record::Config { subject: Some("a".into()), level: Some(Level::None) });
        assert_eq!(s.effective_level("a"), Level::None);
        s.apply(Record::Config { subject: Some("a".into()), level: None });
        assert_eq!(s.subject_level("a"), None);
        s.apply(put("a", 1, 1, r#""string""#, false));
        s.apply(put("a", 2, 2, r#""int""#, false));
        s.apply(Record::DeleteSubject { subject: "a".into(), version: 1 });
        assert_eq!(s.versions("a", false).len(), 1);
        assert_eq!(s.versions("a", true).len(), 2);
    }

    #[test]
    fn unparsable_records_are_skipped() {
        let mut s = State::default();
        s.apply(put("a", 1, 3, "{not avro", false));
        assert!(!s.has_subject("a", true));
        assert_eq!(s.max_id(), 3);
    }
}
