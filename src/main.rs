//! The `sluice` binary: parses the command line, loads the config, sets up logging, metrics and
//! the observability listener, and runs one subcommand. Errors are printed once, at the top, and
//! turn into a non-zero exit code.

mod check;
mod config;
mod http;
mod pipeline;
mod registry_cmd;
mod service;
mod sink_cmd;
mod source_cmd;
mod status;
mod targets;
mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::service::Service;

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Change-data-capture from PostgreSQL and MySQL/MariaDB through Kafka to targets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file and test every endpoint it names (connection, privileges, settings).
    Check {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Stream changes from the configured source to Kafka: PostgreSQL logical replication
    /// (`[source] type = "postgres"`) or the MySQL/MariaDB binlog (`type = "mysql"`), with full
    /// load, full load + CDC or CDC only; Avro (schemas in a registry) or Kafka Connect JSON.
    Source {
        /// The TOML config file ([source], [kafka], [registry], optional [http], [log]).
        #[arg(long, short)]
        config: PathBuf,
        /// Forget this source's stored state (e.g. after re-creating a dropped slot on purpose).
        #[arg(long)]
        reset_state: bool,
    },
    /// Apply change topics (Sluice's or Debezium's, Avro or Kafka Connect JSON) to the configured
    /// target (`[sink] type = "postgres"` or `"mysql"` for MySQL/MariaDB), exactly once.
    Sink {
        /// The TOML config file ([sink], [kafka], [registry], optional [http], [log]).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run everything the config names in one process: its source (with the built-in registry
    /// when `[registry] listen` is set) and its sink; or the registry alone.
    Run {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show the table statistics of the source and sink tasks of a config (full-load state and
    /// rows, inserts, updates, deletes, DDLs), as last reported by the running or stopped tasks.
    Status {
        /// The TOML config file of the task(s); its [kafka] section locates the reports.
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running PostgreSQL source to re-read tables (an incremental snapshot) while it keeps
    /// streaming, through its signal table (`[source] signal_table`).
    Snapshot {
        /// The source's TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Tables to re-read, as `schema.table`.
        #[arg(required = true)]
        tables: Vec<String>,
        /// Re-read only the rows matching this SQL condition, e.g. `id BETWEEN 100 AND 200`.
        #[arg(long = "where")]
        filter: Option<String>,
    },
    /// Run the built-in Confluent-compatible schema registry (storage: a compacted Kafka topic).
    Registry {
        /// Optional TOML config file (`[registry]`, `[kafka]`, `[http]`, `[log]`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to serve the registry API on, e.g. 127.0.0.1:8081.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Kafka bootstrap servers for the schema topic.
        #[arg(long)]
        kafka: Option<String>,
        /// The compacted schema topic (default `_schemas`).
        #[arg(long)]
        topic: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(try_main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn try_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Source { config, reset_state } => {
            let cfg = Config::load(&config)?;
            let service = Service::start(&cfg, "source").await?;
            source_cmd::run(cfg, reset_state, &service).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sink { config } => {
            let cfg = Config::load(&config)?;
            let service = Service::start(&cfg, "sink").await?;
            sink_cmd::run(cfg, &service).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config } => {
            let cfg = Config::load(&config)?;
            if cfg.source.is_some() || cfg.sink.is_some() {
                // One process, one observability listener: the source (with its built-in
                // registry) and the sink run side by side; a fatal error in either stops both.
                let service = Service::start(&cfg, "run").await?;
                let source = async {
                    match cfg.source {
                        Some(_) => source_cmd::run(cfg.clone(), false, &service).await,
                        None => Ok(()),
                    }
                };
                let sink = async {
                    match cfg.sink {
                        Some(_) => sink_cmd::run(cfg.clone(), &service).await,
                        None => Ok(()),
                    }
                };
                tokio::try_join!(source, sink)?;
            } else if cfg.registry.as_ref().is_some_and(|r| r.listen.is_some()) {
                registry_cmd::run(cfg, registry_cmd::RegistryArgs { listen: None, kafka: None, topic: None })
                    .await?;
            } else {
                anyhow::bail!(
                    "nothing to run: the config names no [source] and no [registry] listen address"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry { config, listen, kafka, topic } => {
            let cfg = match config {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            registry_cmd::run(cfg, registry_cmd::RegistryArgs { listen, kafka, topic }).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { config, json } => {
            let cfg = Config::load(&config)?;
            telemetry::init_logging(&cfg.log)?;
            status::print(&cfg, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot { config, tables, filter } => {
            let cfg = Config::load(&config)?;
            telemetry::init_logging(&cfg.log)?;
            let Some(config::SourceConfig::Postgres(pg)) = &cfg.source else {
                anyhow::bail!(
                    "`sluice snapshot` needs a PostgreSQL [source] (MySQL sources take signals later)"
                );
            };
            let client = pg.connection.connect().await?;
            let id = sluice_postgres::source::incremental::request_snapshot(
                &client,
                pg,
                &tables,
                filter.as_deref(),
            )
            .await?;
            println!("requested incremental snapshot {id} of {}", tables.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => {
            let cfg = Config::load(&config)?;
            telemetry::init_logging(&cfg.log)?;
            let checks = check::run_checks(&cfg).await;
            if checks.is_empty() {
                println!("nothing to check: the config names no endpoint");
                return Ok(ExitCode::SUCCESS);
            }
            for c in &checks {
                println!("{c}");
            }
            let failed = checks.iter().filter(|c| !c.passed()).count();
            if failed == 0 {
                println!("all {} checks passed", checks.len());
                Ok(ExitCode::SUCCESS)
            } else {
                println!("{failed} of {} checks failed", checks.len());
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
