//! The `sluice` binary: parses the command line, loads the config, sets up logging, metrics and
//! the observability listener, and runs one subcommand. Errors are printed once, at the top, and
//! turn into a non-zero exit code.

mod check;
mod config;
mod http;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

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
