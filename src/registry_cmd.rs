//! `sluice registry`: run the built-in Confluent-compatible schema registry until SIGINT/SIGTERM.
//!
//! Flags override the config file: `--listen` (else `[registry] listen`), `--kafka` (else
//! `[kafka] bootstrap_servers`), `--topic` (else `[registry] topic`, default `_schemas`).

use std::net::SocketAddr;

use anyhow::Context;
use sluice_registry::RegistryConfig as ServerConfig;

use crate::config::Config;
use crate::service::{shutdown_signal, Service};

pub struct RegistryArgs {
    pub listen: Option<SocketAddr>,
    pub kafka: Option<String>,
    pub topic: Option<String>,
}

pub async fn run(cfg: Config, args: RegistryArgs) -> anyhow::Result<()> {
    let section = cfg.registry.clone();
    let listen = args
        .listen
        .or_else(|| section.as_ref().and_then(|r| r.listen))
        .context("no address to listen on: pass --listen HOST:PORT or set [registry] listen")?;
    let kafka = cfg.kafka.clone();
    let bootstrap = args
        .kafka
        .or_else(|| kafka.as_ref().map(|k| k.bootstrap_servers.clone()))
        .context("no Kafka cluster for the registry's storage: pass --kafka HOST:PORT or set [kafka] bootstrap_servers")?;
    let mut server = ServerConfig::new(listen, bootstrap);
    if let Some(topic) = args.topic.or_else(|| section.map(|r| r.topic)) {
        server.topic = topic;
    }
    if let Some(k) = kafka {
        server.kafka_properties = k.properties;
    }
    let service = Service::start(&cfg, "registry").await?;
    let running = sluice_registry::start(server).await?;
    tracing::info!(addr = %running.local_addr(), "registry ready");
    service.ready.set_ready();
    running.run_until(shutdown_signal()).await?;
    Ok(())
}
