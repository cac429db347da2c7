//! How to reach a PostgreSQL server, as written in the config file (`[source.connection]`,
//! `[sink.connection]`). The password is a [`Secret`] and never appears in errors or logs.

use std::time::Duration;

use serde::Deserialize;
use sluice_core::Secret;
use tokio_postgres::{Client, NoTls};

use crate::error::PgError;

fn default_port() -> u16 {
    5432
}

fn default_connect_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgEndpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port (default 5432).
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub password: Secret,
    pub database: String,
    /// Seconds to wait for a connection (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

impl PgEndpoint {
    /// `host:port`, for messages.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn pg_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name("sluice")
            .connect_timeout(Duration::from_secs(self.connect_timeout_secs));
        if !self.password.is_empty() {
            c.password(self.password.expose());
        }
        c
    }

    /// Open a regular (non-replication) connection; the connection task runs on the runtime.
    pub async fn connect(&self) -> Result<Client, PgError> {
        let (client, conn) =
            self.pg_config().connect(NoTls).await.map_err(|e| PgError::connect(self.addr(), &e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "postgres connection ended");
            }
        });
        Ok(client)
    }
}
