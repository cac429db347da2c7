//! Preflight checks for MySQL/MariaDB endpoints: one small function per requirement, each
//! returning a [`Check`] that names expected and actual values. Checks never change the server.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sluice_core::Check;

use crate::endpoint::MySqlEndpoint;

/// Connect and report the server version. `None` connection when it failed.
pub async fn ensure_connect(endpoint: &str, ep: &MySqlEndpoint) -> (Check, Option<Conn>) {
    match ep.connect().await {
        Ok(mut conn) => {
            let version: String =
                conn.query_first("SELECT VERSION()").await.ok().flatten().unwrap_or_else(|| "unknown".into());
            (
                Check::pass(endpoint, "connect", format!("{version} at {} as {}", ep.addr(), ep.user)),
                Some(conn),
            )
        }
        Err(e) => {
            (Check::error(endpoint, "connect", e.to_string(), "check host, port, user and password"), None)
        }
    }
}

async fn global_variable(conn: &mut Conn, name: &str) -> Option<String> {
    let q = format!("SELECT @@GLOBAL.{name}");
    let v: Option<Option<String>> = conn.query_first(q).await.ok()?;
    v.flatten()
}

async fn variable_check(endpoint: &str, conn: &mut Conn, name: &str, expected: &str, hint: &str) -> Check {
    match global_variable(conn, name).await {
        Some(v) => {
            // log_bin reads back as 1/0 on some servers and ON/OFF on others.
            let v = match v.as_str() {
                "1" if expected == "ON" => "ON".to_owned(),
                "0" if expected == "ON" => "OFF".to_owned(),
                _ => v,
            };
            Check::expect_eq(endpoint, name, expected, &v, hint)
        }
        None => Check::error(endpoint, name, format!("cannot read @@GLOBAL.{name}"), ""),
    }
}

pub async fn ensure_log_bin_on(endpoint: &str, conn: &mut Conn) -> Check {
    variable_check(endpoint, conn, "log_bin", "ON", "start the server with log_bin (binary logging) enabled")
        .await
}

pub async fn ensure_binlog_format_row(endpoint: &str, conn: &mut Conn) -> Check {
    variable_check(
        endpoint,
        conn,
        "binlog_format",
        "ROW",
        "set binlog_format=ROW in my.cnf (or SET GLOBAL binlog_format='ROW')",
    )
    .await
}

pub async fn ensure_binlog_row_image_full(endpoint: &str, conn: &mut Conn) -> Check {
    variable_check(endpoint, conn, "binlog_row_image", "FULL", "set binlog_row_image=FULL in my.cnf").await
}

/// TABLE_MAP events carry column names, signedness, charsets, ENUM/SET values and the primary
/// key only with `binlog_row_metadata=FULL` (MySQL ≥ 8.0.1, MariaDB ≥ 10.5). Without it the
/// source falls back to information_schema, which describes tables as they are now rather than
/// when the binlog was written.
pub async fn ensure_binlog_row_metadata_full(endpoint: &str, conn: &mut Conn) -> Check {
    let hint = "set binlog_row_metadata=FULL in my.cnf (or SET GLOBAL binlog_row_metadata='FULL') so \
                events decode with the column list that was valid when they were written";
    match global_variable(conn, "binlog_row_metadata").await {
        Some(v) => Check::expect_eq(endpoint, "binlog_row_metadata", "FULL", &v, hint),
        None => Check::fail(
            endpoint,
            "binlog_row_metadata",
            "FULL",
            "not available (needs MySQL 8.0.1+ or MariaDB 10.5+)",
            "upgrade the server; until then column definitions come from information_schema",
        ),
    }
}

/// A source needs `REPLICATION SLAVE`, `REPLICATION CLIENT` (MariaDB ≥ 10.5 calls it
/// `BINLOG MONITOR`) and `SELECT`, or `ALL PRIVILEGES`, granted on `*.*`; with
/// `snapshot_locking = "minimal"` (`reload`) also `RELOAD` for `FLUSH TABLES WITH READ LOCK`.
pub async fn ensure_replication_privileges(endpoint: &str, conn: &mut Conn, reload: bool) -> Check {
    let grants: Vec<String> = match conn.query("SHOW GRANTS FOR CURRENT_USER()").await {
        Ok(g) => g,
        Err(e) => return Check::error(endpoint, "privileges", e.to_string(), ""),
    };
    let global: Vec<String> =
        grants.iter().filter(|g| g.contains(" ON *.* ")).map(|g| g.to_ascii_uppercase()).collect();
    let has = |p: &str| global.iter().any(|g| g.contains("ALL PRIVILEGES") || g.contains(p));
    let mut missing = Vec::new();
    if !has("REPLICATION SLAVE") {
        missing.push("REPLICATION SLAVE");
    }
    if !(has("REPLICATION CLIENT") || has("BINLOG MONITOR") || has("SUPER")) {
        missing.push("REPLICATION CLIENT");
    }
    if !has("SELECT") {
        missing.push("SELECT");
    }
    if reload && !has("RELOAD") {
        missing.push("RELOAD");
    }
    let required = if reload {
        "REPLICATION SLAVE, REPLICATION CLIENT, SELECT, RELOAD on *.*"
    } else {
        "REPLICATION SLAVE, REPLICATION CLIENT, SELECT on *.*"
    };
    if missing.is_empty() {
        Check::pass(endpoint, "privileges", required)
    } else {
        Check::fail(
            endpoint,
            "privileges",
            required,
            format!("missing {}", missing.join(", ")),
            format!("GRANT {} ON *.* TO <user>", required.trim_end_matches(" on *.*")),
        )
    }
}

/// Every check a binlog source needs (`reload`: `snapshot_locking = "minimal"` is configured).
pub async fn check_source(endpoint: &str, ep: &MySqlEndpoint, reload: bool) -> Vec<Check> {
    let (connect, conn) = ensure_connect(endpoint, ep).await;
    let mut checks = vec![connect];
    if let Some(mut c) = conn {
        checks.push(ensure_log_bin_on(endpoint, &mut c).await);
        checks.push(ensure_binlog_format_row(endpoint, &mut c).await);
        checks.push(ensure_binlog_row_image_full(endpoint, &mut c).await);
        checks.push(ensure_binlog_row_metadata_full(endpoint, &mut c).await);
        checks.push(ensure_replication_privileges(endpoint, &mut c, reload).await);
        let _ = c.disconnect().await;
    }
    checks
}

/// Every check a sink target needs.
pub async fn check_sink(endpoint: &str, ep: &MySqlEndpoint) -> Vec<Check> {
    let (connect, conn) = ensure_connect(endpoint, ep).await;
    if let Some(c) = conn {
        let _ = c.disconnect().await;
    }
    vec![connect]
}
