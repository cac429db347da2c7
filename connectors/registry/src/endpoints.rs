//! One handler per Confluent endpoint, each a thin shell around [`crate::ops`].
//!
//! Read endpoints answer from the state as last applied from the topic (on an instance that
//! did not make a write itself this may trail that write by the reader's lag, typically
//! milliseconds). Write endpoints go through [`crate::store::Store::write`], so they answer
//! only after the broker acknowledged the records and this instance applied them: a client
//! that registers and then reads, on the same instance, always sees its write. A registration
//! of a schema the subject already has is answered from the state without touching the topic.
//! Response bodies follow Confluent's field names; `schemaType` is never sent because only
//! Avro is stored. Failures are [`RegistryError`]s with Confluent codes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use crate::error::RegistryError;
use crate::http::{parse_config_request, parse_schema_request, Params};
use crate::metrics as m;
use crate::ops::{self, VersionSpec};
use crate::Registry;

type Answer = Result<Response, RegistryError>;

fn ok<T: Serialize>(body: T) -> Answer {
    Ok(Json(body).into_response())
}

/// A subject version as Confluent returns it.
#[derive(Serialize)]
struct VersionBody<'a> {
    subject: &'a str,
    version: i32,
    id: i32,
    schema: &'a str,
}

#[derive(Serialize)]
struct SubjectVersion<'a> {
    subject: &'a str,
    version: i32,
}

fn parse_id(raw: &str) -> Result<i32, RegistryError> {
    // Confluent's server cannot route a non-integer id at all: a plain 404.
    raw.trim().parse().map_err(|_| RegistryError::NoSuchEndpoint)
}

/// `GET /`
pub(crate) async fn root() -> Answer {
    ok(json!({}))
}

/// `GET /schemas/types`
pub(crate) async fn schema_types() -> Answer {
    ok(["AVRO"])
}

/// `GET /schemas/ids/{id}`
pub(crate) async fn schema_by_id(State(reg): State<Registry>, Path(id): Path<String>) -> Answer {
    let id = parse_id(&id)?;
    let state = reg.store.read();
    let stored = state.schema(id).ok_or(RegistryError::SchemaNotFound(Some(id)))?;
    ok(json!({ "schema": stored.text }))
}

/// `GET /schemas/ids/{id}/schema`: the schema itself.
pub(crate) async fn raw_schema_by_id(State(reg): State<Registry>, Path(id): Path<String>) -> Answer {
    let id = parse_id(&id)?;
    let state = reg.store.read();
    let stored = state.schema(id).ok_or(RegistryError::SchemaNotFound(Some(id)))?;
    Ok(stored.text.clone().into_response())
}

/// `GET /schemas/ids/{id}/versions`
pub(crate) async fn versions_by_id(
    State(reg): State<Registry>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Answer {
    let id = parse_id(&id)?;
    let state = reg.store.read();
    if state.schema(id).is_none() {
        return Err(RegistryError::SchemaNotFound(Some(id)));
    }
    let uses: Vec<_> = state
        .uses_of(id, params.flag("deleted"))
        .into_iter()
        .filter(|(s, _)| params.get("subject").is_none_or(|want| want == s))
        .collect();
    let body: Vec<_> =
        uses.iter().map(|(subject, version)| SubjectVersion { subject, version: *version }).collect();
    ok(params.page(body))
}

/// `GET /schemas/ids/{id}/subjects`
pub(crate) async fn subjects_by_id(
    State(reg): State<Registry>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Answer {
    let id = parse_id(&id)?;
    let state = reg.store.read();
    if state.schema(id).is_none() {
        return Err(RegistryError::SchemaNotFound(Some(id)));
    }
    let mut subjects: Vec<String> = state
        .uses_of(id, params.flag("deleted"))
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| params.get("subject").is_none_or(|want| want == s))
        .collect();
    subjects.dedup();
    ok(params.page(subjects))
}

/// `GET /subjects`
pub(crate) async fn list_subjects(State(reg): State<Registry>, Query(params): Query<Params>) -> Answer {
    let state = reg.store.read();
    let prefix = params.get("subjectPrefix").unwrap_or_default();
    let subjects: Vec<String> = state
        .subjects(params.flag("deleted"), params.flag("deleted_only"))
        .into_iter()
        .filter(|s| s.starts_with(prefix))
        .collect();
    ok(params.page(subjects))
}

/// `GET /subjects/{s}/versions`
pub(crate) async fn list_versions(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Query<Params>,
) -> Answer {
    let state = reg.store.read();
    let all = state.versions(&subject, true);
    if all.is_empty() || (!params.flag("deleted") && all.iter().all(|(_, e)| e.deleted)) {
        return Err(RegistryError::SubjectNotFound(subject));
    }
    let versions: Vec<i32> =
        all.into_iter()
            .filter(|(_, e)| {
                if params.flag("deleted_only") {
                    e.deleted
                } else {
                    params.flag("deleted") || !e.deleted
                }
            })
            .map(|(v, _)| v)
            .collect();
    ok(params.page(versions))
}

/// `POST /subjects/{s}/versions`: `{"id": N}`.
pub(crate) async fn register(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Answer {
    let parsed = parse_schema_request(&body)?;
    // Already registered: answer without a round trip through the topic.
    let known = match ops::plan_register(&reg.store.read(), &subject, &parsed) {
        Ok((records, registered)) if records.is_empty() => Some(registered),
        _ => None,
    };
    let registered = match known {
        Some(registered) => registered,
        None => {
            reg.store.write(|state| ops::plan_register(state, &subject, &parsed)).await.inspect_err(|e| {
                if matches!(e, RegistryError::Incompatible { .. }) {
                    metrics::counter!(m::INCOMPATIBLE_SCHEMAS_TOTAL).increment(1);
                }
            })?
        }
    };
    if registered.created {
        metrics::counter!(m::SCHEMAS_REGISTERED_TOTAL).increment(1);
        tracing::info!(subject = %subject, version = registered.version, id = registered.id, "schema registered");
    }
    ok(json!({ "id": registered.id }))
}

/// `POST /subjects/{s}`: which version of the subject holds this schema.
pub(crate) async fn lookup(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Answer {
    let parsed = parse_schema_request(&body)?;
    let state = reg.store.read();
    let (version, id) = ops::lookup(&state, &subject, &parsed, params.flag("deleted"))?;
    let text = state.schema(id).map(|s| s.text.as_str()).unwrap_or_default();
    ok(VersionBody { subject: &subject, version, id, schema: text })
}

/// `GET /subjects/{s}/versions/{v}`
pub(crate) async fn get_version(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Answer {
    let spec = VersionSpec::parse(&version)?;
    let state = reg.store.read();
    let (version, entry) = ops::resolve_version(&state, &subject, spec, params.flag("deleted"))?;
    let text = state.schema(entry.id).map(|s| s.text.as_str()).unwrap_or_default();
    ok(VersionBody { subject: &subject, version, id: entry.id, schema: text })
}

/// `GET /subjects/{s}/versions/{v}/schema`: the schema itself.
pub(crate) async fn get_version_schema(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Answer {
    let spec = VersionSpec::parse(&version)?;
    let state = reg.store.read();
    let (_, entry) = ops::resolve_version(&state, &subject, spec, params.flag("deleted"))?;
    let text = state.schema(entry.id).map(|s| s.text.clone()).unwrap_or_default();
    Ok(text.into_response())
}

/// `DELETE /subjects/{s}`: the versions deleted.
pub(crate) async fn delete_subject(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Query<Params>,
) -> Answer {
    let permanent = params.flag("permanent");
    let deleted = reg.store.write(|state| ops::plan_delete_subject(state, &subject, permanent)).await?;
    tracing::info!(subject = %subject, permanent, versions = ?deleted, "subject deleted");
    ok(deleted)
}

/// `DELETE /subjects/{s}/versions/{v}`: the version deleted.
pub(crate) async fn delete_version(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Answer {
    let spec = VersionSpec::parse(&version)?;
    let permanent = params.flag("permanent");
    let deleted = reg.store.write(|state| ops::plan_delete_version(state, &subject, spec, permanent)).await?;
    tracing::info!(subject = %subject, version = deleted, permanent, "subject version deleted");
    ok(deleted)
}

async fn compatibility(
    reg: Registry,
    subject: String,
    spec: Option<VersionSpec>,
    params: Params,
    body: Bytes,
) -> Answer {
    let parsed = parse_schema_request(&body)?;
    let messages = ops::test_compatibility(&reg.store.read(), &subject, &parsed, spec)?;
    let is_compatible = messages.is_empty();
    if params.flag("verbose") {
        ok(json!({ "is_compatible": is_compatible, "messages": messages }))
    } else {
        ok(json!({ "is_compatible": is_compatible }))
    }
}

/// `POST /compatibility/subjects/{s}/versions`: against the versions the level names.
pub(crate) async fn compatibility_all(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Answer {
    compatibility(reg, subject, None, params, body).await
}

/// `POST /compatibility/subjects/{s}/versions/{v}`
pub(crate) async fn compatibility_version(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Answer {
    let spec = VersionSpec::parse(&version)?;
    compatibility(reg, subject, Some(spec), params, body).await
}

/// `GET /config`
pub(crate) async fn get_global_config(State(reg): State<Registry>) -> Answer {
    let level = reg.store.read().global_level();
    ok(json!({ "compatibilityLevel": level.as_str() }))
}

/// `PUT /config`: echoes `{"compatibility": LEVEL}`.
pub(crate) async fn put_global_config(State(reg): State<Registry>, body: Bytes) -> Answer {
    let level = parse_config_request(&body)?;
    reg.store.write(|_| ops::plan_set_level(None, level)).await?;
    ok(json!({ "compatibility": level.as_str() }))
}

/// `DELETE /config`: resets the global level to BACKWARD, answers the old one.
pub(crate) async fn delete_global_config(State(reg): State<Registry>) -> Answer {
    let old = reg.store.write(|state| ops::plan_delete_level(state, None)).await?;
    ok(json!({ "compatibilityLevel": old.as_str() }))
}

/// `GET /config/{s}`: 40408 without a subject setting unless `defaultToGlobal=true`.
pub(crate) async fn get_subject_config(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Query<Params>,
) -> Answer {
    let state = reg.store.read();
    let level = match state.subject_level(&subject) {
        Some(level) => level,
        None if params.flag("defaultToGlobal") => state.global_level(),
        None => return Err(RegistryError::SubjectCompatibilityNotConfigured(subject)),
    };
    ok(json!({ "compatibilityLevel": level.as_str() }))
}

/// `PUT /config/{s}`
pub(crate) async fn put_subject_config(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Answer {
    let level = parse_config_request(&body)?;
    reg.store.write(|_| ops::plan_set_level(Some(&subject), level)).await?;
    ok(json!({ "compatibility": level.as_str() }))
}

/// `DELETE /config/{s}`: answers the removed level.
pub(crate) async fn delete_subject_config(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
) -> Answer {
    let old = reg.store.write(|state| ops::plan_delete_level(state, Some(&subject))).await?;
    ok(json!({ "compatibilityLevel": old.as_str() }))
}
