//! Metric names the registry records, through the `metrics` facade.
//!
//! The names are constants so dashboards and `docs/registry.md` can refer to them; label values
//! are bounded: `endpoint` is the route template (e.g. `/subjects/{subject}/versions`, or
//! `unmatched`), `method` the HTTP method, `status` a class (`2xx`, `4xx`, `5xx`). Nothing is
//! recorded unless the embedding binary installs a recorder (e.g. the Prometheus exporter);
//! recording never fails.

/// Counter: HTTP requests answered, by `endpoint`, `method` and `status` class.
pub const REQUESTS_TOTAL: &str = "sluice_registry_requests_total";
/// Histogram: time to answer an HTTP request in seconds, by `endpoint` and `method`.
pub const REQUEST_DURATION_SECONDS: &str = "sluice_registry_request_duration_seconds";
/// Counter: subject versions created (a registration that reused a version is not counted).
pub const SCHEMAS_REGISTERED_TOTAL: &str = "sluice_registry_schemas_registered_total";
/// Counter: registrations refused as incompatible (HTTP 409).
pub const INCOMPATIBLE_SCHEMAS_TOTAL: &str = "sluice_registry_incompatible_schemas_total";
/// Histogram: time for a write to be acknowledged by the topic and applied, in seconds.
pub const WRITE_DURATION_SECONDS: &str = "sluice_registry_write_duration_seconds";
/// Counter: write attempts retried after a Kafka error (e.g. fenced by another instance).
pub const WRITE_RETRIES_TOTAL: &str = "sluice_registry_write_retries_total";
/// Counter: topic records applied to the in-memory state.
pub const RECORDS_APPLIED_TOTAL: &str = "sluice_registry_records_applied_total";
/// Counter: topic records skipped as undecodable or conflicting (each is also logged).
pub const RECORDS_SKIPPED_TOTAL: &str = "sluice_registry_records_skipped_total";
/// Counter: rebuilds of the state from the beginning of the topic, after the reader went past
/// committed records of this instance's own writes without delivering them.
pub const READER_REBUILDS_TOTAL: &str = "sluice_registry_reader_rebuilds_total";
/// Gauge: subjects with at least one live version.
pub const SUBJECTS_COUNT: &str = "sluice_registry_subjects_count";
/// Gauge: schema ids currently resolvable.
pub const SCHEMAS_COUNT: &str = "sluice_registry_schemas_count";

/// Registers descriptions for every metric above with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(REQUESTS_TOTAL, "Schema registry HTTP requests answered");
    describe_histogram!(REQUEST_DURATION_SECONDS, Unit::Seconds, "Schema registry HTTP request duration");
    describe_counter!(SCHEMAS_REGISTERED_TOTAL, "Subject versions created");
    describe_counter!(INCOMPATIBLE_SCHEMAS_TOTAL, "Registrations refused as incompatible");
    describe_histogram!(
        WRITE_DURATION_SECONDS,
        Unit::Seconds,
        "Registry topic write duration, acknowledged and applied"
    );
    describe_counter!(WRITE_RETRIES_TOTAL, "Registry topic write attempts retried");
    describe_counter!(RECORDS_APPLIED_TOTAL, "Registry topic records applied");
    describe_counter!(RECORDS_SKIPPED_TOTAL, "Registry topic records skipped");
    describe_counter!(
        READER_REBUILDS_TOTAL,
        "Registry state rebuilds after the reader missed committed records"
    );
    describe_gauge!(SUBJECTS_COUNT, "Subjects with a live version");
    describe_gauge!(SCHEMAS_COUNT, "Schema ids resolvable");
}
