//! The OpenSearch / Elasticsearch target (`type = "opensearch" | "elasticsearch"`): each source
//! row becomes one document of the table's index. Tested against osmem-server (the OpenSearch
//! 3 API) and read back with opensearch-py: the sink conformance suite,
//! `tests/opensearch_sink.rs` (`kill -9`, every type, a search query).
//!
//! Layout: index `index_pattern` (`{prefix}`, `{schema}`, `{table}` replaced, lowercased),
//! created on first use with a mapping from the source schema ([`document::properties`]), new
//! columns added to it; `_id` = the key ([`document::doc_id`]); `_source` = every column
//! ([`document::field`]).
//!
//! Invariants (exact without transactions):
//! - Every write carries a version that grows along the source's commit order
//!   ([`version`]) with `version_type=external_gte`: the cluster refuses a write older than the
//!   document, so a replay, a rebalance or a re-snapshot never rolls a document back, and a late
//!   upsert cannot bring back a document deleted by a newer change (within `index.gc_deletes`,
//!   set to one day on the indices Sluice creates).
//! - A batch is folded per document and sent at commit in `_bulk` requests whose results are
//!   read item by item, while the next batch is read ([`sink`]); a batch's offsets are stored
//!   after every item of it and of the batches before it succeeded or was found stale, fenced by
//!   sequence number in `offsets_index`.

pub mod client;
pub mod config;
pub mod document;
pub mod error;
pub mod sink;
pub mod version;

pub use config::SearchSinkConfig;
pub use error::SearchError;
use reqwest::Method;
pub use sink::SearchSink;
use sluice_core::Check;

/// The `opensearch` target plug-in.
pub struct SearchTarget;

impl sluice_core::Target for SearchTarget {
    const TYPES: &'static [&'static str] = &["opensearch", "elasticsearch"];
    /// Deferred: a batch's `_bulk` writes run while the next batch is read ([`sink`]).
    const COMMIT_MODE: sluice_core::CommitMode = sluice_core::CommitMode::Deferred;
    type Config = SearchSinkConfig;
    type Sink = SearchSink;

    async fn checks(config: &SearchSinkConfig, endpoint: &str) -> Vec<Check> {
        check_sink(endpoint, config).await
    }

    async fn connect(config: &SearchSinkConfig, name: &str) -> sluice_core::Result<SearchSink> {
        Ok(SearchSink::connect(config.clone(), name).await?)
    }
}

/// `ensure_connect` (the cluster answers, with these credentials) and `ensure_offsets_index`
/// (it exists, or may be created).
pub async fn check_sink(endpoint: &str, config: &SearchSinkConfig) -> Vec<Check> {
    let hint = "check [sink.connection] url, username, password and ca_file";
    if let Err(e) = config.ensure_valid() {
        return vec![Check::fail(endpoint, "settings", "valid", e, "fix the [sink] settings")];
    }
    let client = match client::Client::new(&config.connection) {
        Ok(c) => c,
        Err(e) => return vec![Check::error(endpoint, "connect", e.to_string(), hint)],
    };
    let info = match client.call(Method::GET, "/", None, "connecting").await {
        Err(e) => return vec![Check::error(endpoint, "connect", e.to_string(), hint)],
        Ok((status, body)) if !status.is_success() => {
            return vec![Check::fail(
                endpoint,
                "connect",
                "HTTP 200",
                format!("HTTP {status}: {}", client::reason(&body)),
                hint,
            )]
        }
        Ok((_, body)) => body,
    };
    let version =
        |k: &str| info.pointer(&format!("/version/{k}")).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
    let mut checks = vec![Check::pass(
        endpoint,
        "connect",
        format!("{} {} at {}", version("distribution"), version("number"), config.connection.url),
    )];
    let index = &config.offsets_index;
    checks.push(
        match client.call(Method::HEAD, &format!("/{index}"), None, "checking the offsets index").await {
            Ok((s, _)) if s.is_success() => Check::pass(endpoint, "offsets_index", format!("{index} exists")),
            Ok((s, _)) if s.as_u16() == 404 && config.create_indices => {
                Check::pass(endpoint, "offsets_index", format!("{index} will be created"))
            }
            Ok((s, _)) => Check::fail(
                endpoint,
                "offsets_index",
                format!("{index} readable"),
                format!("HTTP {s}"),
                "create it or grant the user create_index and write on it",
            ),
            Err(e) => Check::error(endpoint, "offsets_index", e.to_string(), hint),
        },
    );
    checks
}
