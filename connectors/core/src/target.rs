//! A target plug-in: what a target crate provides so the sink runtime can run it. The binary
//! keeps one list of targets; nothing else names one.
//!
//! A target provides its `type` names, its typed settings (the `[sink]` keys that are not the
//! runtime's, `[sink.connection]` among them; unknown keys must be refused, so `Config` carries
//! `#[serde(deny_unknown_fields)]`), its commit mode, its preflight checks — the `ensure_*` list
//! `sluice check` prints, which the runtime also runs before every start — and `connect`, whose
//! errors are classified where they enter (an unreachable target is retriable: the runtime
//! retries it with backoff, it never exits for it).

use std::future::Future;

use serde::de::DeserializeOwned;

use crate::{Check, CommitMode, Result, Sink};

pub trait Target: Send + Sync + 'static {
    /// The `type` values that select this target; the first is the canonical one.
    const TYPES: &'static [&'static str];
    /// How the target makes writes durable (see [`Sink`]).
    const COMMIT_MODE: CommitMode;
    /// The target's settings: every `[sink]` key the runtime does not own.
    type Config: DeserializeOwned + Send + Sync + 'static;
    /// A connected target.
    type Sink: Sink + 'static;

    /// Preflight checks against the target, each from an `ensure_*` function; `endpoint` names
    /// the target in the results.
    fn checks(config: &Self::Config, endpoint: &str) -> impl Future<Output = Vec<Check>> + Send;

    /// Connect; `name` keys the sink's stored offsets.
    fn connect(config: &Self::Config, name: &str) -> impl Future<Output = Result<Self::Sink>> + Send;
}
