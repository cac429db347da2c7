//! What each registry operation means, as pure functions of the [`State`].
//!
//! Writes are *planned* here: a `plan_*` function looks at the state (already caught up with
//! the topic by the caller) and returns either a Confluent error or the records to produce plus
//! the answer to give once they are applied. Reads (`resolve_version`, `lookup`,
//! `test_compatibility`) answer directly. Keeping this free of Kafka and HTTP is what lets the
//! unit tests below pin down Confluent's semantics: which versions a delete touches, when a
//! registration reuses an id, which error code each mistake gets.
//!
//! Invariants: a plan never writes when the answer is already in the state (re-registering an
//! existing schema returns its id and version without a record); an incompatible schema plans
//! no record at all; a permanent delete always carries a `SLUICE_MAX_ID` record so the highest
//! id outlives the tombstones.

use crate::avro::{Level, ParsedSchema};
use crate::error::RegistryError;
use crate::record::{Record, SchemaValue};
use crate::state::{State, VersionEntry};

/// Records to produce, and the answer once they are applied.
pub(crate) type Plan<T> = Result<(Vec<Record>, T), RegistryError>;

/// A version path segment: a number, or `latest` (also spelled `-1`, as Confluent allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionSpec {
    Latest,
    Number(i32),
}

impl VersionSpec {
    /// Parses a path segment; anything else is 42202.
    pub fn parse(raw: &str) -> Result<Self, RegistryError> {
        let trimmed = raw.trim();
        if trimmed.eq_ignore_ascii_case("latest") || trimmed == "-1" {
            return Ok(Self::Latest);
        }
        match trimmed.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(Self::Number(n)),
            _ => Err(RegistryError::InvalidVersion(raw.to_owned())),
        }
    }
}

/// A new or registered subject version and the schema id it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Registered {
    pub id: i32,
    pub version: i32,
    /// False when the schema was already registered and nothing was written.
    pub created: bool,
}

fn schema_record(state: &State, subject: &str, version: i32, entry: VersionEntry) -> Record {
    let text = state.schema(entry.id).map(|s| s.text.clone()).unwrap_or_default();
    Record::Schema {
        subject: subject.to_owned(),
        version,
        value: Some(SchemaValue {
            subject: subject.to_owned(),
            version,
            id: entry.id,
            schema: text,
            deleted: entry.deleted,
            schema_type: None,
        }),
    }
}

fn tombstone(subject: &str, version: i32) -> Record {
    Record::Schema { subject: subject.to_owned(), version, value: None }
}

/// The live version of `subject` whose schema has `identity`, newest first.
fn find_identity(state: &State, subject: &str, identity: &str, deleted: bool) -> Option<(i32, i32)> {
    state
        .versions(subject, deleted)
        .into_iter()
        .rev()
        .find(|(_, e)| state.schema(e.id).is_some_and(|s| s.identity == identity))
        .map(|(v, e)| (v, e.id))
}

/// `POST /subjects/{s}/versions`: reuse an identical live version, else check compatibility
/// and add the next version with the schema's global id (reused, or the next never-used one).
pub(crate) fn plan_register(state: &State, subject: &str, parsed: &ParsedSchema) -> Plan<Registered> {
    if let Some((version, id)) = find_identity(state, subject, &parsed.identity, false) {
        return Ok((Vec::new(), Registered { id, version, created: false }));
    }
    let live = state.versions(subject, false);
    let previous: Vec<(i32, &apache_avro::Schema)> =
        live.iter().filter_map(|(v, e)| state.schema(e.id).map(|s| (*v, &s.schema))).collect();
    let messages = state.effective_level(subject).check(&parsed.schema, &previous);
    if !messages.is_empty() {
        return Err(RegistryError::Incompatible { subject: subject.to_owned(), messages });
    }
    let (id, text) = match state.id_for_identity(&parsed.identity) {
        Some(id) => {
            let text = state.schema(id).map(|s| s.text.clone());
            (id, text.unwrap_or_else(|| parsed.text.clone()))
        }
        None => {
            let id = state
                .max_id()
                .checked_add(1)
                .ok_or_else(|| RegistryError::Store("schema ids exhausted (2^31-1 reached)".to_owned()))?;
            (id, parsed.text.clone())
        }
    };
    let version = state
        .max_version(subject)
        .checked_add(1)
        .ok_or_else(|| RegistryError::Store(format!("subject '{subject}' has no free version")))?;
    let record = Record::Schema {
        subject: subject.to_owned(),
        version,
        value: Some(SchemaValue {
            subject: subject.to_owned(),
            version,
            id,
            schema: text,
            deleted: false,
            schema_type: None,
        }),
    };
    Ok((vec![record], Registered { id, version, created: true }))
}

/// `DELETE /subjects/{s}`: soft-deletes the live versions (and the subject's compatibility
/// setting), or with `permanent` removes a subject whose versions are all soft-deleted.
pub(crate) fn plan_delete_subject(state: &State, subject: &str, permanent: bool) -> Plan<Vec<i32>> {
    let all = state.versions(subject, true);
    if all.is_empty() {
        return Err(RegistryError::SubjectNotFound(subject.to_owned()));
    }
    let (mut records, deleted) = if permanent {
        if all.iter().any(|(_, e)| !e.deleted) {
            return Err(RegistryError::SubjectNotSoftDeleted(subject.to_owned()));
        }
        let mut records = vec![Record::MaxId(state.max_id())];
        records.extend(all.iter().map(|(v, _)| tombstone(subject, *v)));
        (records, all.iter().map(|(v, _)| *v).collect::<Vec<_>>())
    } else {
        let live: Vec<_> = all.iter().filter(|(_, e)| !e.deleted).collect();
        if live.is_empty() {
            return Err(RegistryError::SubjectSoftDeleted(subject.to_owned()));
        }
        let records = live
            .iter()
            .map(|(v, e)| schema_record(state, subject, *v, VersionEntry { id: e.id, deleted: true }))
            .collect();
        (records, live.iter().map(|(v, _)| *v).collect())
    };
    if state.subject_level(subject).is_some() {
        records.push(Record::Config { subject: Some(subject.to_owned()), level: None });
    }
    Ok((records, deleted))
}

/// `DELETE /subjects/{s}/versions/{v}`: soft-deletes one version, or with `permanent` removes
/// one that was soft-deleted first. `latest` is the highest version, soft-deleted or not.
pub(crate) fn plan_delete_version(
    state: &State,
    subject: &str,
    spec: VersionSpec,
    permanent: bool,
) -> Plan<i32> {
    let all = state.versions(subject, true);
    let (version, entry) = match spec {
        _ if all.is_empty() => return Err(RegistryError::SubjectNotFound(subject.to_owned())),
        VersionSpec::Latest => *all.last().ok_or(RegistryError::SubjectNotFound(subject.to_owned()))?,
        VersionSpec::Number(n) => {
            *all.iter().find(|(v, _)| *v == n).ok_or_else(|| RegistryError::VersionNotFound(n.to_string()))?
        }
    };
    if permanent {
        if !entry.deleted {
            return Err(RegistryError::VersionNotSoftDeleted { subject: subject.to_owned(), version });
        }
        let records = vec![Record::MaxId(state.max_id()), tombstone(subject, version)];
        Ok((records, version))
    } else {
        if entry.deleted {
            return Err(RegistryError::VersionSoftDeleted { subject: subject.to_owned(), version });
        }
        let record = schema_record(state, subject, version, VersionEntry { id: entry.id, deleted: true });
        Ok((vec![record], version))
    }
}

/// `PUT /config[/{s}]`.
pub(crate) fn plan_set_level(subject: Option<&str>, level: Level) -> Plan<Level> {
    let record = Record::Config { subject: subject.map(str::to_owned), level: Some(level) };
    Ok((vec![record], level))
}

/// `DELETE /config[/{s}]`: removes the setting and answers the one that was in force. A
/// subject without its own setting is 40401, as in Confluent.
pub(crate) fn plan_delete_level(state: &State, subject: Option<&str>) -> Plan<Level> {
    let old = match subject {
        Some(s) => state.subject_level(s).ok_or_else(|| RegistryError::SubjectNotFound(s.to_owned()))?,
        None => state.global_level(),
    };
    let record = Record::Config { subject: subject.map(str::to_owned), level: None };
    Ok((vec![record], old))
}

/// `GET /subjects/{s}/versions/{v}`: the version, soft-deleted ones only if `deleted`.
pub(crate) fn resolve_version(
    state: &State,
    subject: &str,
    spec: VersionSpec,
    deleted: bool,
) -> Result<(i32, VersionEntry), RegistryError> {
    let versions = state.versions(subject, deleted);
    match spec {
        _ if versions.is_empty() => Err(RegistryError::SubjectNotFound(subject.to_owned())),
        VersionSpec::Latest => {
            versions.last().copied().ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))
        }
        VersionSpec::Number(n) => versions
            .into_iter()
            .find(|(v, _)| *v == n)
            .ok_or_else(|| RegistryError::VersionNotFound(n.to_string())),
    }
}

/// `POST /subjects/{s}`: the version of `subject` holding this schema, as `(version, id)`.
pub(crate) fn lookup(
    state: &State,
    subject: &str,
    parsed: &ParsedSchema,
    deleted: bool,
) -> Result<(i32, i32), RegistryError> {
    if !state.has_subject(subject, deleted) {
        return Err(RegistryError::SubjectNotFound(subject.to_owned()));
    }
    find_identity(state, subject, &parsed.identity, deleted).ok_or(RegistryError::SchemaNotFound(None))
}

/// `POST /compatibility/subjects/{s}/versions[/{v}]`: violation messages (empty means
/// compatible). Without a version, or with `latest`, the subject's level decides which live
/// versions are checked; a subject with no live version is compatible with anything.
pub(crate) fn test_compatibility(
    state: &State,
    subject: &str,
    parsed: &ParsedSchema,
    spec: Option<VersionSpec>,
) -> Result<Vec<String>, RegistryError> {
    let level = state.effective_level(subject);
    let live = state.versions(subject, false);
    let chosen: Vec<(i32, VersionEntry)> = match spec {
        None | Some(VersionSpec::Latest) => live,
        Some(VersionSpec::Number(_)) if live.is_empty() => {
            return Err(RegistryError::SubjectNotFound(subject.to_owned()))
        }
        Some(VersionSpec::Number(n)) => vec![live
            .into_iter()
            .find(|(v, _)| *v == n)
            .ok_or_else(|| RegistryError::VersionNotFound(n.to_string()))?],
    };
    let previous: Vec<(i32, &apache_avro::Schema)> =
        chosen.iter().filter_map(|(v, e)| state.schema(e.id).map(|s| (*v, &s.schema))).collect();
    Ok(level.check(&parsed.schema, &previous))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;
    const V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},
        {"name":"email","type":"string","default":""}]}"#;
    const BAD: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},
        {"name":"email","type":"string"}]}"#;

    fn parsed(s: &str) -> ParsedSchema {
        ParsedSchema::parse(s).unwrap()
    }

    /// Plans and applies, as the store does.
    fn run<T>(state: &mut State, plan: Plan<T>) -> Result<T, RegistryError> {
        let (records, answer) = plan?;
        for r in records {
            state.apply(r);
        }
        Ok(answer)
    }

    fn register(state: &mut State, subject: &str, schema: &str) -> Result<Registered, RegistryError> {
        let p = parsed(schema);
        let plan = plan_register(state, subject, &p);
        run(state, plan)
    }

    #[test]
    fn registration_reuses_ids_and_versions() {
        let mut s = State::default();
        let a1 = register(&mut s, "a", V1).unwrap();
        assert_eq!((a1.id, a1.version, a1.created), (1, 1, true));
        let again = register(&mut s, "a", &V1.replace(',', " , ")).unwrap();
        assert_eq!((again.id, again.version, again.created), (1, 1, false));
        let b1 = register(&mut s, "b", V1).unwrap();
        assert_eq!((b1.id, b1.version), (1, 1));
        let a2 = register(&mut s, "a", V2).unwrap();
        assert_eq!((a2.id, a2.version), (2, 2));
    }

    #[test]
    fn incompatible_registration_plans_nothing() {
        let mut s = State::default();
        register(&mut s, "a", V1).unwrap();
        let err = plan_register(&s, "a", &parsed(BAD)).unwrap_err();
        assert_eq!(err.error_code(), 409);
        assert_eq!(s.versions("a", true).len(), 1);
        // The same schema under NONE goes through.
        run(&mut s, plan_set_level(Some("a"), Level::None)).unwrap();
        assert_eq!(register(&mut s, "a", BAD).unwrap().version, 2);
    }

    #[test]
    fn soft_then_permanent_delete_and_ids_are_never_reused() {
        let mut s = State::default();
        register(&mut s, "a", V1).unwrap();
        register(&mut s, "a", V2).unwrap();
        assert_eq!(plan_delete_subject(&s, "a", true).unwrap_err().error_code(), 40405);
        assert_eq!(
            plan_delete_version(&s, "a", VersionSpec::Number(1), true).unwrap_err().error_code(),
            40407
        );
        let p = plan_delete_subject(&s, "a", false);
        assert_eq!(run(&mut s, p).unwrap(), vec![1, 2]);
        assert_eq!(plan_delete_subject(&s, "a", false).unwrap_err().error_code(), 40404);
        // Soft-deleted ids still resolve.
        assert!(s.schema(2).is_some());
        let p = plan_delete_subject(&s, "a", true);
        assert_eq!(run(&mut s, p).unwrap(), vec![1, 2]);
        assert!(s.schema(2).is_none());
        assert_eq!(plan_delete_subject(&s, "a", false).unwrap_err().error_code(), 40401);
        // The same schema again gets a fresh id and version 1.
        let again = register(&mut s, "a", V1).unwrap();
        assert_eq!((again.id, again.version), (3, 1));
    }

    #[test]
    fn version_deletes() {
        let mut s = State::default();
        register(&mut s, "a", V1).unwrap();
        register(&mut s, "a", V2).unwrap();
        let p = plan_delete_version(&s, "a", VersionSpec::Latest, false);
        assert_eq!(run(&mut s, p).unwrap(), 2);
        assert_eq!(
            plan_delete_version(&s, "a", VersionSpec::Number(2), false).unwrap_err().error_code(),
            40406
        );
        assert_eq!(
            plan_delete_version(&s, "a", VersionSpec::Number(9), false).unwrap_err().error_code(),
            40402
        );
        assert_eq!(resolve_version(&s, "a", VersionSpec::Latest, false).unwrap().0, 1);
        assert_eq!(resolve_version(&s, "a", VersionSpec::Number(2), false).unwrap_err().error_code(), 40402);
        assert!(resolve_version(&s, "a", VersionSpec::Number(2), true).is_ok());
        let p = plan_delete_version(&s, "a", VersionSpec::Number(2), true);
        assert_eq!(run(&mut s, p).unwrap(), 2);
        // Re-registering V2 after its version is gone creates version 2 again under a new id.
        let again = register(&mut s, "a", V2).unwrap();
        assert_eq!((again.id, again.version), (3, 2));
    }

    #[test]
    fn soft_deleting_a_version_keeps_its_only_id() {
        let mut s = State::default();
        register(&mut s, "a", V1).unwrap();
        let p = plan_delete_version(&s, "a", VersionSpec::Number(1), false);
        run(&mut s, p).unwrap();
        assert!(s.schema(1).is_some());
        assert_eq!(s.uses_of(1, true), vec![("a".to_owned(), 1)]);
        assert!(s.uses_of(1, false).is_empty());
        // Registering it again adds a version with the same id.
        let again = register(&mut s, "a", V1).unwrap();
        assert_eq!((again.id, again.version), (1, 2));
    }

    #[test]
    fn lookup_and_compatibility_tests() {
        let mut s = State::default();
        assert_eq!(lookup(&s, "a", &parsed(V1), false).unwrap_err().error_code(), 40401);
        assert!(test_compatibility(&s, "a", &parsed(BAD), None).unwrap().is_empty());
        assert_eq!(
            test_compatibility(&s, "a", &parsed(BAD), Some(VersionSpec::Number(1))).unwrap_err().error_code(),
            40401
        );
        register(&mut s, "a", V1).unwrap();
        assert_eq!(lookup(&s, "a", &parsed(V1), false).unwrap(), (1, 1));
        assert_eq!(lookup(&s, "a", &parsed(V2), false).unwrap_err().error_code(), 40403);
        assert_eq!(test_compatibility(&s, "a", &parsed(BAD), Some(VersionSpec::Latest)).unwrap().len(), 1);
        assert!(test_compatibility(&s, "a", &parsed(V2), Some(VersionSpec::Number(1))).unwrap().is_empty());
        assert_eq!(
            test_compatibility(&s, "a", &parsed(V2), Some(VersionSpec::Number(4))).unwrap_err().error_code(),
            40402
        );
    }

    #[test]
    fn config_plans() {
        let mut s = State::default();
        assert_eq!(plan_delete_level(&s, Some("a")).unwrap_err().error_code(), 40401);
        run(&mut s, plan_set_level(Some("a"), Level::Full)).unwrap();
        let p = plan_delete_level(&s, Some("a"));
        assert_eq!(run(&mut s, p).unwrap(), Level::Full);
        run(&mut s, plan_set_level(None, Level::Forward)).unwrap();
        let p = plan_delete_level(&s, None);
        assert_eq!(run(&mut s, p).unwrap(), Level::Forward);
        assert_eq!(s.global_level(), Level::Backward);
    }

    #[test]
    fn version_specs() {
        assert_eq!(VersionSpec::parse("latest").unwrap(), VersionSpec::Latest);
        assert_eq!(VersionSpec::parse("-1").unwrap(), VersionSpec::Latest);
        assert_eq!(VersionSpec::parse("3").unwrap(), VersionSpec::Number(3));
        for bad in ["0", "-2", "x", "2147483648", ""] {
            assert_eq!(VersionSpec::parse(bad).unwrap_err().error_code(), 42202);
        }
    }
}
