//! `sluice check` against real servers: passing endpoints, and each failing setting reported by
//! name with expected and actual values.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use mysql_async::prelude::Queryable;
use sluice_testkit::{free_port, testbed, unique, MariaDbServer, PgServer};

fn run_check(dir: &Path, toml: &str) -> (bool, String) {
    let path = dir.join("sluice.toml");
    std::fs::write(&path, toml).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(&path)
        .env_remove("RUST_LOG")
        .output()
        .expect("run sluice check");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn pg_source(pg: &PgServer, port: u16, user: &str, password: &str) -> String {
    format!(
        "[source]\ntype = \"postgres\"\ntopic_prefix = \"chk\"\n[source.connection]\nhost = \"{}\"\nport = {port}\nuser = \"{user}\"\npassword = \"{password}\"\ndatabase = \"{}\"\nconnect_timeout_secs = 3\n",
        pg.host, pg.database
    )
}

fn mysql_source(m: &MariaDbServer, user: &str, password: &str) -> String {
    format!(
        "[source]\ntype = \"mysql\"\ntopic_prefix = \"chk\"\n[source.connection]\nhost = \"{}\"\nport = {}\nuser = \"{user}\"\npassword = \"{password}\"\nconnect_timeout_secs = 3\n",
        m.host, m.port
    )
}

#[tokio::test]
async fn all_endpoints_pass_on_the_bench() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("check_ok")?;
    let cfg = format!(
        "{}[sink]\ntype = \"mysql\"\ntopic_regex = '^app\\..*'\n[sink.connection]\nhost = \"{}\"\nport = {}\nuser = \"root\"\n\n[kafka]\nbootstrap_servers = \"{}\"\n",
        pg_source(&tb.postgres, tb.postgres.port, &tb.postgres.user, ""),
        tb.mariadb.host,
        tb.mariadb.port,
        tb.kafka.bootstrap
    );
    let (ok, out) = run_check(&dir, &cfg);
    assert!(ok, "{out}");
    for line in [
        "PASS source.connect",
        "PASS source.wal_level: logical",
        "PASS source.replication_privilege",
        "PASS sink.connect",
        "PASS kafka.metadata",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    Ok(())
}

#[tokio::test]
async fn wal_level_replica_is_reported() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("check_wal")?;
    let pg = &tb.postgres_replica;
    let (ok, out) = run_check(&dir, &pg_source(pg, pg.port, &pg.user, ""));
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL source.wal_level: expected logical, found replica"), "{out}");
    Ok(())
}

#[tokio::test]
async fn wrong_password_is_reported_without_the_password() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("check_pw")?;
    let pg = &tb.postgres;
    let user = unique("pwuser");
    let admin = pg.connect(&pg.database).await?;
    admin.batch_execute(&format!("CREATE ROLE {user} LOGIN PASSWORD 'right-secret'")).await?;
    let (ok, out) = run_check(&dir, &pg_source(pg, pg.port, &user, "wrong-secret-123"));
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL source.connect"), "{out}");
    assert!(out.contains("password authentication failed"), "{out}");
    assert!(!out.contains("wrong-secret-123"), "password leaked:\n{out}");
    // The right password passes connect, and the missing REPLICATION attribute is named.
    let (_, out) = run_check(&dir, &pg_source(pg, pg.port, &user, "right-secret"));
    assert!(out.contains("PASS source.connect"), "{out}");
    assert!(
        out.contains("FAIL source.replication_privilege: expected REPLICATION, found NOREPLICATION"),
        "{out}"
    );

    // MariaDB: same for a password user without replication grants.
    let m = &tb.mariadb;
    let mut c = m.connect(None).await?;
    let muser = unique("pw");
    c.query_drop(format!("CREATE USER '{muser}'@'%' IDENTIFIED BY 'right-secret'")).await?;
    c.query_drop(format!("GRANT SELECT ON *.* TO '{muser}'@'%'")).await?;
    c.disconnect().await?;
    let (ok, out) = run_check(&dir, &mysql_source(m, &muser, "wrong-secret-456"));
    assert!(!ok && out.contains("FAIL source.connect") && out.contains("Access denied"), "{out}");
    assert!(!out.contains("wrong-secret-456"), "password leaked:\n{out}");
    let (_, out) = run_check(&dir, &mysql_source(m, &muser, "right-secret"));
    assert!(out.contains("FAIL source.privileges: expected REPLICATION SLAVE, REPLICATION CLIENT, SELECT on *.*, found missing REPLICATION SLAVE, REPLICATION CLIENT"), "{out}");
    Ok(())
}

#[tokio::test]
async fn unreachable_port_is_reported() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("check_port")?;
    let port = free_port()?;
    let (ok, out) = run_check(&dir, &pg_source(&tb.postgres, port, "postgres", ""));
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("FAIL source.connect: cannot connect to PostgreSQL at 127.0.0.1:{port}")),
        "{out}"
    );
    let cfg = format!("[kafka]\nbootstrap_servers = \"127.0.0.1:{port}\"\n[kafka.properties]\n\"socket.connection.setup.timeout.ms\" = \"1000\"\n");
    let (ok, out) = run_check(&dir, &cfg);
    assert!(!ok && out.contains("FAIL kafka.metadata"), "{out}");
    Ok(())
}

#[tokio::test]
async fn binlog_format_statement_is_reported() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("check_binlog")?;
    let (ok, out) = run_check(&dir, &mysql_source(&tb.mariadb_statement, "root", ""));
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL source.binlog_format: expected ROW, found STATEMENT"), "{out}");
    assert!(out.contains("PASS source.log_bin: ON"), "{out}");
    let (ok, out) = run_check(&dir, &mysql_source(&tb.mariadb, "root", ""));
    assert!(ok, "{out}");
    assert!(out.contains("PASS source.binlog_row_image: FULL"), "{out}");
    Ok(())
}

#[tokio::test]
async fn kinesis_endpoint_is_checked() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("check_kinesis")?;
    let kinesis = |connection: &str| {
        format!(
            "[broker]\ntype = \"kinesis\"\n[kinesis]\nshard_count = 2\n[kinesis.connection]\n{connection}"
        )
    };
    let (ok, out) = run_check(&dir, &kinesis(&tb.kinesis.connection()));
    assert!(ok, "{out}");
    assert!(out.contains("PASS kinesis.list_streams: reachable"), "{out}");
    let port = free_port()?;
    let dead = format!(
        "endpoint_url = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\naccess_key_id = \"x\"\nsecret_access_key = \"y\"\nconnect_timeout_secs = 1\n"
    );
    let (ok, out) = run_check(&dir, &kinesis(&dead));
    assert!(!ok && out.contains("FAIL kinesis.list_streams"), "{out}");
    // A [kinesis] section while Kafka carries the events is a mistake, named.
    let stray = format!("[kinesis]\n[kinesis.connection]\n{}", tb.kinesis.connection());
    let (ok, out) = run_check(&dir, &stray);
    assert!(!ok && out.contains("FAIL kinesis.config") && out.contains("[broker] type is"), "{out}");
    Ok(())
}
