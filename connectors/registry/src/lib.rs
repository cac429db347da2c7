//! Sluice's schema registry: a Confluent-compatible REST server whose only storage is a
//! compacted Kafka topic.
//!
//! Clients (Confluent serializers, `confluent-kafka`'s `SchemaRegistryClient`, Sluice's own
//! Avro encoder) talk to it exactly as to Confluent Schema Registry for Avro schemas: register,
//! look up by id or subject/version, check compatibility, configure compatibility levels,
//! soft- and hard-delete. See `docs/registry.md` for the endpoint list and the limits.
//!
//! Two ways in:
//! - [`start`] opens the store and serves HTTP on [`RegistryConfig::listen`] until
//!   [`RunningRegistry::shutdown`] (what `sluice registry` runs);
//! - [`Registry::open`] plus [`router`] gives an `axum::Router` to mount in another server
//!   (what `sluice run` embeds).
//!
//! Invariants: the registry serves nothing before it has read its topic to the end; every
//! write is acknowledged by the broker and applied from the topic before it is answered; ids
//! are global across subjects and never reused. Several instances may share one topic: writes
//! are serialised across them by transactional fencing (see `docs/registry.md`). Failures are
//! [`RegistryError`]s: at start-up they say what to fix (broker unreachable, topic with the
//! wrong partition count); over HTTP they carry Confluent error codes.

mod avro;
mod endpoints;
mod error;
mod http;
pub mod metrics;
mod ops;
mod record;
mod state;
mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::avro::Level;
pub use crate::error::RegistryError;
pub use crate::http::{router, RESPONSE_CONTENT_TYPE};

/// The default registry topic, as in Confluent.
pub const DEFAULT_TOPIC: &str = "_schemas";

/// Where the registry listens and where it keeps its schemas.
#[derive(Clone)]
pub struct RegistryConfig {
    /// HTTP listen address (port 0 picks a free port; see [`RunningRegistry::local_addr`]).
    pub listen: SocketAddr,
    /// Kafka `bootstrap.servers`.
    pub kafka_bootstrap: String,
    /// The compacted single-partition topic holding the schemas (default `_schemas`). Created
    /// if missing. Every instance that should see the same ids uses the same topic.
    pub topic: String,
    /// Extra librdkafka properties for every client (security settings, timeouts). The
    /// registry's own settings (transactional id, isolation level, ...) take precedence.
    pub kafka_properties: BTreeMap<String, String>,
    /// How long one operation (a write, or start-up catch-up) may take before it fails.
    pub timeout: Duration,
}

impl RegistryConfig {
    /// A configuration with the default topic, no extra properties and a 30 s timeout.
    pub fn new(listen: SocketAddr, kafka_bootstrap: impl Into<String>) -> Self {
        Self {
            listen,
            kafka_bootstrap: kafka_bootstrap.into(),
            topic: DEFAULT_TOPIC.to_owned(),
            kafka_properties: BTreeMap::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for RegistryConfig {
    /// Property values whose names look secret (password, secret, key, token) are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .kafka_properties
            .iter()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let secret = ["password", "secret", "key", "token"].iter().any(|w| lower.contains(w));
                (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("RegistryConfig")
            .field("listen", &self.listen)
            .field("kafka_bootstrap", &self.kafka_bootstrap)
            .field("topic", &self.topic)
            .field("kafka_properties", &properties)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An open registry: its topic read to the end and kept up to date. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Arc<store::Store>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// Creates the topic if missing, reads it to the end, and keeps following it.
    pub async fn open(config: &RegistryConfig) -> Result<Self, RegistryError> {
        metrics::describe();
        let store = store::Store::open(&store::StoreConfig {
            bootstrap: config.kafka_bootstrap.clone(),
            topic: config.topic.clone(),
            kafka_properties: config.kafka_properties.clone(),
            timeout: config.timeout,
        })
        .await?;
        Ok(Self { store })
    }

    /// Stops following the topic and releases the Kafka clients. Requests served after this
    /// answer from the last state read; writes fail.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

/// A registry serving HTTP. Dropping it also stops the server (gracefully, in the background);
/// [`RunningRegistry::shutdown`] does the same but waits for it and reports errors.
#[derive(Debug)]
pub struct RunningRegistry {
    local_addr: SocketAddr,
    registry: Registry,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

/// Opens the registry (see [`Registry::open`]), then binds `config.listen` and serves.
pub async fn start(config: RegistryConfig) -> Result<RunningRegistry, RegistryError> {
    let registry = Registry::open(&config).await?;
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            registry.close().await;
            return Err(e.into());
        }
    };
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(registry.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(listen = %local_addr, topic = %config.topic, "schema registry serving");
    Ok(RunningRegistry { local_addr, registry, stop: Some(stop), server })
}

impl RunningRegistry {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The registry behind the server.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops accepting requests, lets in-flight ones finish, and closes the Kafka clients.
    pub async fn shutdown(mut self) -> Result<(), RegistryError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = (&mut self.server).await;
        self.registry.close().await;
        match served {
            Ok(result) => result.map_err(RegistryError::from),
            Err(e) => Err(RegistryError::Io(std::io::Error::other(e))),
        }
    }

    /// Serves until `signal` completes (e.g. Ctrl-C) or the server fails, then shuts down.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), RegistryError> {
        tokio::select! {
            () = signal => self.shutdown().await,
            served = &mut self.server => {
                self.registry.close().await;
                match served {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.into()),
                    Err(e) => Err(RegistryError::Io(std::io::Error::other(e))),
                }
            }
        }
    }
}
