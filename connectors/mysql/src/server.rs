//! What the source needs to know about the server: MySQL or MariaDB, its version, GTID mode,
//! binlog settings, and its current binlog position.
//!
//! The current position is read so that file, offset and GTID set agree: MySQL's
//! `SHOW MASTER STATUS` (`SHOW BINARY LOG STATUS` from 8.2) returns all three in one row;
//! MariaDB's returns file and offset, and `BINLOG_GTID_POS(file, offset)` gives the GTID state
//! at exactly that offset. Failure: binary logging off, or a position that cannot be read, is an
//! error with the setting to change.

use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, Row};
use sluice_core::{BinlogPosition, GtidSet};

use crate::error::MySqlError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MySql,
    MariaDb,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub flavor: Flavor,
    pub version: (u16, u16, u16),
    pub version_string: String,
    /// `@@server_id` of the server itself.
    pub server_id: u32,
    /// MySQL `gtid_mode` ON (MariaDB always writes GTIDs).
    pub gtid_mode: bool,
    pub binlog_format: String,
    pub binlog_row_image: String,
    /// `None` on servers without the variable (MySQL < 8.0.1, MariaDB < 10.5).
    pub binlog_row_metadata: Option<String>,
}

impl ServerInfo {
    pub async fn detect(conn: &mut Conn) -> Result<ServerInfo, MySqlError> {
        let q = |e: mysql_async::Error| MySqlError::query("server variables", &e);
        let row: Row = conn
            .query_first(
                "SELECT VERSION(), @@GLOBAL.server_id, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image",
            )
            .await
            .map_err(q)?
            .ok_or_else(|| MySqlError::Query {
                context: "server variables",
                reason: "no row".into(),
                kind: sluice_core::ErrorKind::Fatal,
            })?;
        let version_string: String = col(&row, 0).unwrap_or_default();
        let server_id: u32 = col(&row, 1).unwrap_or_default();
        let binlog_format: String = col(&row, 2).unwrap_or_default();
        let binlog_row_image: String = col(&row, 3).unwrap_or_default();
        let flavor = if version_string.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        };
        let binlog_row_metadata: Option<String> =
            first_value(conn, "SELECT @@GLOBAL.binlog_row_metadata").await;
        let gtid_mode = match flavor {
            Flavor::MariaDb => true,
            Flavor::MySql => {
                let mode: Option<String> = first_value(conn, "SELECT @@GLOBAL.gtid_mode").await;
                mode.is_some_and(|m| m.eq_ignore_ascii_case("ON"))
            }
        };
        Ok(ServerInfo {
            flavor,
            version: conn.server_version(),
            version_string,
            server_id,
            gtid_mode,
            binlog_format,
            binlog_row_image,
            binlog_row_metadata,
        })
    }

    pub fn is_mariadb(&self) -> bool {
        self.flavor == Flavor::MariaDb
    }

    pub fn row_metadata_full(&self) -> bool {
        self.binlog_row_metadata.as_deref().is_some_and(|m| m.eq_ignore_ascii_case("FULL"))
    }

    /// An empty GTID set of this server's flavor, or `None` without GTIDs.
    pub fn empty_gtid_set(&self) -> Option<GtidSet> {
        match (self.flavor, self.gtid_mode) {
            (Flavor::MariaDb, _) => Some(GtidSet::MariaDb(Default::default())),
            (Flavor::MySql, true) => Some(GtidSet::MySql(Default::default())),
            (Flavor::MySql, false) => None,
        }
    }

    /// The server's current binlog position with its GTID set.
    pub async fn current_position(&self, conn: &mut Conn) -> Result<BinlogPosition, MySqlError> {
        let stmt = binlog_status_statement(self.flavor, self.version);
        let row: Option<Row> =
            conn.query_first(stmt).await.map_err(|e| MySqlError::query("binlog status", &e))?;
        let Some(row) = row else {
            return Err(MySqlError::unsupported(
                "binary logging is off (no binlog status)",
                "start the server with log_bin enabled and binlog_format=ROW",
            ));
        };
        let file: Option<String> = col(&row, 0);
        let pos: Option<u64> = col(&row, 1);
        let (Some(file), Some(pos)) = (file, pos) else {
            return Err(MySqlError::Query {
                context: "binlog status",
                reason: format!("unexpected result of {stmt}"),
                kind: sluice_core::ErrorKind::Fatal,
            });
        };
        let gtid_set = match self.flavor {
            Flavor::MariaDb => {
                let gtid: Option<Row> = conn
                    .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.as_str(), pos))
                    .await
                    .map_err(|e| MySqlError::query("BINLOG_GTID_POS", &e))?;
                let gtid: Option<String> = gtid.and_then(|r| col(&r, 0));
                Some(
                    GtidSet::parse_mariadb(&gtid.unwrap_or_default())
                        .map_err(|e| MySqlError::Config(e.to_string()))?,
                )
            }
            Flavor::MySql if self.gtid_mode => {
                let executed: Option<String> = col(&row, 4);
                Some(
                    GtidSet::parse_mysql(&executed.unwrap_or_default().replace('\n', ""))
                        .map_err(|e| MySqlError::Config(e.to_string()))?,
                )
            }
            Flavor::MySql => None,
        };
        Ok(BinlogPosition { file, pos, gtid_set })
    }
}

/// Column `i` of a row, `None` when absent, NULL or not convertible (never panics, unlike
/// `mysql_async`'s tuple conversions).
pub fn col<T: FromValue>(row: &Row, i: usize) -> Option<T> {
    row.get_opt::<Option<T>, usize>(i).and_then(Result::ok).flatten()
}

/// The first column of the first row of a query, `None` on error or NULL.
pub async fn first_value<T: FromValue>(conn: &mut Conn, sql: &str) -> Option<T> {
    let row: Option<Row> = conn.query_first(sql).await.ok().flatten();
    row.and_then(|r| col(&r, 0))
}

/// `SHOW MASTER STATUS` was removed in MySQL 8.4 (its replacement exists from 8.2.0).
pub fn binlog_status_statement(flavor: Flavor, version: (u16, u16, u16)) -> &'static str {
    match flavor {
        Flavor::MySql if version >= (8, 2, 0) => "SHOW BINARY LOG STATUS",
        _ => "SHOW MASTER STATUS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_statement_by_version() {
        assert_eq!(binlog_status_statement(Flavor::MySql, (8, 4, 3)), "SHOW BINARY LOG STATUS");
        assert_eq!(binlog_status_statement(Flavor::MySql, (8, 2, 0)), "SHOW BINARY LOG STATUS");
        assert_eq!(binlog_status_statement(Flavor::MySql, (8, 0, 36)), "SHOW MASTER STATUS");
        assert_eq!(binlog_status_statement(Flavor::MariaDb, (11, 4, 2)), "SHOW MASTER STATUS");
    }
}
