//! The target registry: a [`Target`] plug-in turned into an entry the binary can list, look up
//! by `type`, validate, check and run — the one place the binary names targets is its list of
//! entries.
//!
//! A run of an entry parses the target's settings (fatal when wrong), runs its preflight
//! checks (a check that could not reach the target is retriable, a wrong setting is fatal),
//! connects (classified by the target) and hands the connected sink to [`crate::run`].

use std::future::Future;
use std::pin::Pin;

use sluice_core::{Check, CheckOutcome, CommitMode, Target};
use sluice_kafka::KafkaConfig;

use crate::error::RuntimeError;
use crate::RuntimeOptions;

/// A boxed future borrowing from its caller.
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What one run of a target needs besides its settings.
pub struct RunArgs<'a> {
    pub options: &'a RuntimeOptions,
    pub kafka: &'a KafkaConfig,
    /// Called once the consumer is subscribed.
    pub ready: &'a (dyn Fn() + Sync),
    /// Completes when the run must stop cleanly.
    pub stop: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// A target as the binary lists it.
pub struct TargetEntry {
    /// `type` values selecting it; the first is canonical.
    pub types: &'static [&'static str],
    pub mode: CommitMode,
    validate: fn(&toml::Table) -> Result<(), RuntimeError>,
    check: for<'a> fn(&'a toml::Table, &'a str) -> LocalFuture<'a, Vec<Check>>,
    run: for<'a> fn(&'a toml::Table, RunArgs<'a>) -> LocalFuture<'a, Result<(), RuntimeError>>,
}

impl TargetEntry {
    /// The entry of target `T`.
    pub fn of<T: Target>() -> Self {
        Self {
            types: T::TYPES,
            mode: T::COMMIT_MODE,
            validate: |s| settings::<T>(s).map(drop),
            check: |s, endpoint| Box::pin(check::<T>(s, endpoint)),
            run: |s, args| Box::pin(run_target::<T>(s, args)),
        }
    }

    /// The canonical `type` name.
    pub fn name(&self) -> &'static str {
        self.types.first().copied().unwrap_or("?")
    }

    /// Parse the target's settings: the `[sink]` keys the runtime does not own.
    pub fn validate(&self, settings: &toml::Table) -> Result<(), RuntimeError> {
        (self.validate)(settings)
    }

    /// The target's preflight checks, as `sluice check` prints them.
    pub fn check<'a>(&self, settings: &'a toml::Table, endpoint: &'a str) -> LocalFuture<'a, Vec<Check>> {
        (self.check)(settings, endpoint)
    }

    /// One run: settings, preflight checks, connect, then the runtime until `args.stop`.
    pub fn run<'a>(
        &self,
        settings: &'a toml::Table,
        args: RunArgs<'a>,
    ) -> LocalFuture<'a, Result<(), RuntimeError>> {
        (self.run)(settings, args)
    }
}

/// The entry whose `types` hold `name`, or a fatal error listing the known ones.
pub fn find<'a>(entries: &'a [TargetEntry], name: &str) -> Result<&'a TargetEntry, RuntimeError> {
    entries.iter().find(|e| e.types.contains(&name)).ok_or_else(|| {
        let known: Vec<&str> = entries.iter().map(TargetEntry::name).collect();
        RuntimeError::Config(format!("unknown sink type {name:?}; known: {}", known.join(", ")))
    })
}

fn settings<T: Target>(s: &toml::Table) -> Result<T::Config, RuntimeError> {
    toml::Value::Table(s.clone()).try_into().map_err(|e: toml::de::Error| {
        RuntimeError::Config(format!("[sink] ({}): {}", T::TYPES[0], e.message()))
    })
}

async fn check<T: Target>(s: &toml::Table, endpoint: &str) -> Vec<Check> {
    match settings::<T>(s) {
        Ok(config) => T::checks(&config, endpoint).await,
        Err(e) => vec![Check::error(endpoint, "config", e.to_string(), "fix [sink] for this `type`")],
    }
}

async fn run_target<T: Target>(s: &toml::Table, args: RunArgs<'_>) -> Result<(), RuntimeError> {
    let config = settings::<T>(s)?;
    for c in T::checks(&config, "sink").await {
        if !c.passed() {
            return Err(RuntimeError::Preflight(Box::new(c)));
        }
    }
    let sink = T::connect(&config, &args.options.name)
        .await
        .map_err(RuntimeError::target("connecting to the target"))?;
    let mut options = args.options.clone();
    options.idle_commit = match T::COMMIT_MODE {
        CommitMode::Transactional => None,
        CommitMode::Deferred => Some(crate::runtime::IDLE_COMMIT),
    };
    crate::run(&options, args.kafka, sink, args.ready, args.stop).await
}

/// Whether a failed check is worth retrying: it could not reach the target (rather than finding
/// a wrong setting).
pub(crate) fn check_is_transient(c: &Check) -> bool {
    matches!(c.outcome, CheckOutcome::Error { .. })
}
