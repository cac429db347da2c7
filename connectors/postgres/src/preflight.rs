//! Preflight checks for PostgreSQL endpoints: one small function per requirement, each
//! returning a [`Check`] that names expected and actual values.
//!
//! Checks never change the server. A check that cannot run (the query fails) reports an error
//! line instead of passing.

use sluice_core::Check;
use tokio_postgres::Client;

use crate::endpoint::PgEndpoint;

/// Connect, and report the server version. `None` client when the connection failed.
pub async fn ensure_connect(endpoint_name: &str, ep: &PgEndpoint) -> (Check, Option<Client>) {
    match ep.connect().await {
        Ok(client) => {
            let version = show(&client, "server_version").await.unwrap_or_else(|| "unknown".into());
            (
                Check::pass(
                    endpoint_name,
                    "connect",
                    format!("PostgreSQL {version} at {} as {}", ep.addr(), ep.user),
                ),
                Some(client),
            )
        }
        Err(e) => (
            Check::error(
                endpoint_name,
                "connect",
                e.to_string(),
                "check host, port, user, password and pg_hba.conf",
            ),
            None,
        ),
    }
}

async fn show(client: &Client, setting: &str) -> Option<String> {
    let row = client.query_one(&format!("SHOW {setting}"), &[]).await.ok()?;
    row.try_get::<_, String>(0).ok()
}

async fn setting_check(
    endpoint: &str,
    client: &Client,
    setting: &str,
    f: impl FnOnce(String) -> Check,
) -> Check {
    match show(client, setting).await {
        Some(v) => f(v),
        None => Check::error(endpoint, setting, format!("cannot read setting {setting}"), ""),
    }
}

/// `wal_level` must be `logical` for logical replication.
pub async fn ensure_wal_level_logical(endpoint: &str, client: &Client) -> Check {
    setting_check(endpoint, client, "wal_level", |v| {
        Check::expect_eq(
            endpoint,
            "wal_level",
            "logical",
            &v,
            "set wal_level = logical in postgresql.conf and restart the server",
        )
    })
    .await
}

/// At least one free replication slot.
pub async fn ensure_replication_slots_available(endpoint: &str, client: &Client) -> Check {
    let q = "SELECT current_setting('max_replication_slots')::int, (SELECT count(*)::int FROM pg_replication_slots)";
    match client.query_one(q, &[]).await {
        Ok(row) => {
            let max: i32 = row.get(0);
            let used: i32 = row.get(1);
            if used < max {
                Check::pass(endpoint, "max_replication_slots", format!("{used} of {max} in use"))
            } else {
                Check::fail(
                    endpoint,
                    "max_replication_slots",
                    format!("more than {used} (slots in use)"),
                    max.to_string(),
                    "raise max_replication_slots and restart, or drop unused slots",
                )
            }
        }
        Err(e) => Check::error(endpoint, "max_replication_slots", e.to_string(), ""),
    }
}

/// At least one WAL sender process allowed.
pub async fn ensure_wal_senders_available(endpoint: &str, client: &Client) -> Check {
    setting_check(endpoint, client, "max_wal_senders", |v| match v.parse::<i64>() {
        Ok(n) if n > 0 => Check::pass(endpoint, "max_wal_senders", v),
        _ => Check::fail(
            endpoint,
            "max_wal_senders",
            "at least 1",
            v,
            "set max_wal_senders >= 1 and restart the server",
        ),
    })
    .await
}

/// The user must have the REPLICATION attribute (or be a superuser).
pub async fn ensure_replication_privilege(endpoint: &str, client: &Client) -> Check {
    let q = "SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user";
    match client.query_one(q, &[]).await {
        Ok(row) => {
            let repl: bool = row.get(0);
            let sup: bool = row.get(1);
            if repl || sup {
                Check::pass(endpoint, "replication_privilege", if sup { "superuser" } else { "REPLICATION" })
            } else {
                Check::fail(
                    endpoint,
                    "replication_privilege",
                    "REPLICATION",
                    "NOREPLICATION",
                    "ALTER ROLE <user> WITH REPLICATION",
                )
            }
        }
        Err(e) => Check::error(endpoint, "replication_privilege", e.to_string(), ""),
    }
}

/// The user may create tables in the target database (the sink creates missing tables).
pub async fn ensure_create_privilege(endpoint: &str, client: &Client) -> Check {
    let q = "SELECT has_database_privilege(current_user, current_database(), 'CREATE'), \
             has_schema_privilege(current_user, 'public', 'CREATE')";
    match client.query_one(q, &[]).await {
        Ok(row) => {
            let db: bool = row.get(0);
            let schema: bool = row.get(1);
            if db && schema {
                Check::pass(endpoint, "create_privilege", "CREATE on database and schema public")
            } else {
                Check::fail(
                    endpoint,
                    "create_privilege",
                    "CREATE on database and schema public",
                    format!("database: {db}, schema public: {schema}"),
                    "GRANT CREATE ON DATABASE <db> TO <user>; GRANT CREATE ON SCHEMA public TO <user>",
                )
            }
        }
        Err(e) => Check::error(endpoint, "create_privilege", e.to_string(), ""),
    }
}

/// Every check a logical-replication source needs.
pub async fn check_source(endpoint: &str, ep: &PgEndpoint) -> Vec<Check> {
    let (connect, client) = ensure_connect(endpoint, ep).await;
    let mut checks = vec![connect];
    if let Some(c) = client {
        checks.push(ensure_wal_level_logical(endpoint, &c).await);
        checks.push(ensure_replication_privilege(endpoint, &c).await);
        checks.push(ensure_replication_slots_available(endpoint, &c).await);
        checks.push(ensure_wal_senders_available(endpoint, &c).await);
    }
    checks
}

/// Every check a sink target needs.
pub async fn check_sink(endpoint: &str, ep: &PgEndpoint) -> Vec<Check> {
    let (connect, client) = ensure_connect(endpoint, ep).await;
    let mut checks = vec![connect];
    if let Some(c) = client {
        checks.push(ensure_create_privilege(endpoint, &c).await);
    }
    checks
}
