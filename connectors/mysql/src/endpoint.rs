//! How to reach a MySQL or MariaDB server, as written in the config file. The password is a
//! [`Secret`] and never appears in errors or logs.

use std::time::Duration;

use mysql_async::{Conn, Opts, OptsBuilder};
use serde::Deserialize;
use sluice_core::{ErrorKind, Secret};

use crate::error::MySqlError;

fn default_port() -> u16 {
    3306
}

fn default_connect_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MySqlEndpoint {
    pub host: String,
    /// TCP port (default 3306).
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub password: Secret,
    /// Default database for the connection (optional for a source).
    #[serde(default)]
    pub database: Option<String>,
    /// Seconds to wait for a connection (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

impl MySqlEndpoint {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn opts(&self) -> Opts {
        let mut b = OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .prefer_socket(false);
        if !self.password.is_empty() {
            b = b.pass(Some(self.password.expose().to_owned()));
        }
        if let Some(db) = &self.database {
            b = b.db_name(Some(db.clone()));
        }
        Opts::from(b)
    }

    pub async fn connect(&self) -> Result<Conn, MySqlError> {
        let timeout = Duration::from_secs(self.connect_timeout_secs);
        match tokio::time::timeout(timeout, Conn::new(self.opts())).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(MySqlError::connect(self.addr(), &e)),
            Err(_) => Err(MySqlError::Connect {
                addr: self.addr(),
                reason: format!("timed out after {}s", self.connect_timeout_secs),
                kind: ErrorKind::Retriable,
            }),
        }
    }
}
