//! Fan-out and scale-out end to end: one PostgreSQL source, topics with three partitions, and at
//! the same time two sink groups — PostgreSQL (two processes sharing the partitions) and MariaDB
//! (heterogeneous: tables created through the PostgreSQL → MariaDB type mapping). After a mixed
//! insert/update/delete workload both targets equal the source, compared row by row and value
//! by value with a query on each side.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(180);

const DDL: &str = "
    CREATE TABLE typed (
        id int PRIMARY KEY, n numeric(14,4), f float8, ts timestamptz, tsl timestamp(6), d date,
        u uuid, j jsonb, b bytea, flag boolean, big text, vc varchar(20), i2 smallint, i8 bigint);
    CREATE SCHEMA inv;
    CREATE TABLE inv.items (sku text, wh int, qty bigint NOT NULL, PRIMARY KEY (sku, wh));";

async fn workload(c: &tokio_postgres::Client, from: i32, to: i32) -> anyhow::Result<()> {
    c.batch_execute(&format!(
        "INSERT INTO typed SELECT g, g * 1.0001, g / 3.0, '2024-02-29 12:34:56.789012+02'::timestamptz + g * interval '1 day',
            '1999-12-31 23:59:59.999999'::timestamp - g * interval '1 hour', '1970-01-01'::date + g,
            md5(g::text)::uuid, jsonb_build_object('g', g, 's', 'x\"y'), decode(md5(g::text), 'hex'), g % 2 = 0,
            CASE WHEN g % 10 = 0 THEN (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200)) ELSE 'small' END,
            'v' || g, (g % 30000)::smallint, g::bigint * -100000
          FROM generate_series({from}, {to}) g;
         INSERT INTO inv.items SELECT 'sku' || g, g % 3, g FROM generate_series({from}, {to}) g;
         UPDATE typed SET n = -n, j = NULL, ts = NULL WHERE id % 3 = 0 AND id BETWEEN {from} AND {to};
         UPDATE inv.items SET qty = qty + 1000 WHERE wh = 1 AND qty BETWEEN {from} AND {to};
         DELETE FROM typed WHERE id % 7 = 0 AND id BETWEEN {from} AND {to};
         DELETE FROM inv.items WHERE wh = 2 AND qty BETWEEN {from} AND {to};
         -- TOAST-unchanged updates: big is not sent.
         UPDATE typed SET flag = NOT flag WHERE id % 10 = 0 AND id BETWEEN {from} AND {to};"
    ))
    .await?;
    Ok(())
}

/// The same projection on each side: text with fixed formats, floats and JSON compared parsed.
const PG_TYPED: &str =
    "SELECT id::text, n::text, f::text, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
    to_char(tsl, 'YYYY-MM-DD HH24:MI:SS.US'), d::text, u::text, j::text, encode(b, 'hex'),
    CASE WHEN flag THEN '1' ELSE '0' END, big, vc, i2::text, i8::text FROM typed";
const MARIA_TYPED: &str = "SELECT CAST(id AS CHAR), CAST(n AS CHAR), CAST(f AS CHAR),
    DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(tsl, '%Y-%m-%d %H:%i:%s.%f'), CAST(d AS CHAR), u,
    CAST(j AS CHAR), LOWER(HEX(b)), CAST(flag AS CHAR), big, vc, CAST(i2 AS CHAR), CAST(i8 AS CHAR)
    FROM {db}.public_typed";
const PG_ITEMS: &str = "SELECT sku, wh::text, qty::text FROM inv.items";
const MARIA_ITEMS: &str = "SELECT sku, CAST(wh AS CHAR), CAST(qty AS CHAR) FROM {db}.inv_items";

type Rows = Vec<Vec<Option<String>>>;

/// Integer keys sort numerically, text keys bytewise.
fn sort_key(r: &[Option<String>]) -> (i64, Vec<Option<String>>) {
    let first = r.first().cloned().flatten().unwrap_or_default();
    (first.parse().unwrap_or(i64::MIN), r.to_vec())
}

fn sorted(mut rows: Rows) -> Rows {
    rows.sort_by_key(|r| sort_key(r));
    rows
}

/// Floats (column 2) and JSON (column 7) of `typed` compared by value, not by spelling.
fn normalize_typed(rows: &mut Rows) {
    for r in rows {
        if let Some(Some(f)) = r.get_mut(2) {
            *f = format!("{:?}", f.parse::<f64>().unwrap());
        }
        if let Some(Some(j)) = r.get_mut(7) {
            *j = serde_json::from_str::<serde_json::Value>(j).unwrap().to_string();
        }
    }
}

/// Rows are sorted here, not in SQL: the two servers collate text differently.
async fn pg_rows(c: &tokio_postgres::Client, sql: &str) -> anyhow::Result<Rows> {
    match c.query(sql, &[]).await {
        Ok(rows) => {
            let mut out: Rows =
                rows.iter().map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect();
            out.sort_by_key(|r| sort_key(r));
            Ok(out)
        }
        Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "42P01") => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

async fn maria_rows(c: &mut mysql_async::Conn, sql: &str) -> anyhow::Result<Rows> {
    match c.query::<mysql_async::Row, _>(sql).await {
        Ok(rows) => Ok(sorted(
            rows.into_iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| match r.as_ref(i) {
                            Some(mysql_async::Value::NULL) | None => None,
                            Some(mysql_async::Value::Bytes(b)) => {
                                Some(String::from_utf8_lossy(b).into_owned())
                            }
                            Some(other) => Some(other.as_sql(true)),
                        })
                        .collect()
                })
                .collect(),
        )),
        // 1146: table does not exist yet.
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_ascii_alphanumeric() || c == '_' { vec![c] } else { vec!['\\', c] })
        .collect()
}

fn maria_sink_config(db: &str, group: &str, regex: &str, url: &str) -> String {
    let tb = testbed();
    format!(
        "[log]\nlevel = \"info\"\n\
         [sink]\ntype = \"mysql\"\nname = \"maria\"\ngroup_id = \"{group}\"\ntopic_regex = '{regex}'\nbatch_max_ms = 50\n\
         table_pattern = \"{db}.{{schema}}_{{table}}\"\n\
         [sink.connection]\nhost = \"{}\"\nport = {}\nuser = \"{}\"\npassword = \"{}\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\n\
         [kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\
         [registry]\nurl = \"{url}\"\n",
        tb.mariadb.host, tb.mariadb.port, tb.mariadb.user, tb.mariadb.password, tb.kafka.bootstrap
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_groups_fan_out_to_postgres_and_mariadb_and_share_partitions() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("fanout").await?;
    let pg_db = tb.postgres.create_database("fanout_dst").await?;
    let maria_db = tb.mariadb.create_database("fanout").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(DDL).await?;
    let dst = tb.postgres.connect(&pg_db).await?;
    let mut maria = tb.mariadb.connect(None).await?;
    let dir = tb.scratch_dir("fanout")?;
    let prefix = unique("fan");
    let port = free_port()?;
    let config = common::pg_source_config(&src_db, &prefix, port, "")
        .replace("[kafka]\n", "[kafka]\ntopic_partitions = 3\n");
    let mut source = common::start_source(&dir, "source", &config, port).await?;
    common::wait_log(&mut source, "streaming", T).await?;
    let url = format!("http://127.0.0.1:{port}");
    let regex = format!("^{}\\.(public|inv)\\..*", escape(&prefix));

    workload(&src, 1, 400).await?;
    // Group 1: two PostgreSQL sink processes share the partitions (distinct static member ids).
    let pg_group = unique("pg");
    let pg_sinks: Vec<common::SluiceProcess> = ["a", "b"]
        .iter()
        .map(|m| {
            let extra = format!("instance_id = \"member-{m}\"");
            common::start_sink(
                &dir,
                &format!("pg-{m}"),
                &common::pg_sink_config(&pg_db, "pg", &pg_group, &regex, &url, &extra),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    // Group 2: MariaDB.
    let maria_sink =
        common::start_sink(&dir, "maria", &maria_sink_config(&maria_db, &unique("maria"), &regex, &url))?;
    workload(&src, 401, 1200).await?;
    src.batch_execute("UPDATE inv.items SET qty = -qty WHERE wh = 0").await?;

    let logs = || {
        format!(
            "--- pg-a:\n{}\n--- pg-b:\n{}\n--- maria:\n{}",
            pg_sinks[0].log_text(),
            pg_sinks[1].log_text(),
            maria_sink.log_text()
        )
    };
    let start = Instant::now();
    loop {
        let mut want_typed = pg_rows(&src, PG_TYPED).await?;
        let want_items = pg_rows(&src, PG_ITEMS).await?;
        let mut pg_typed = pg_rows(&dst, PG_TYPED).await?;
        let pg_items = pg_rows(&dst, PG_ITEMS).await?;
        let mut m_typed = maria_rows(&mut maria, &MARIA_TYPED.replace("{db}", &maria_db)).await?;
        let m_items = maria_rows(&mut maria, &MARIA_ITEMS.replace("{db}", &maria_db)).await?;
        normalize_typed(&mut want_typed);
        normalize_typed(&mut pg_typed);
        normalize_typed(&mut m_typed);
        let pg_ok = pg_typed == want_typed && pg_items == want_items;
        let m_ok = m_typed == want_typed && m_items == want_items;
        if pg_ok && m_ok {
            break;
        }
        if start.elapsed() > T {
            let first_diff = |a: &Rows, b: &Rows| {
                a.iter().zip(b).find(|(x, y)| x != y).map(|(x, y)| {
                    let cols: Vec<String> = x
                        .iter()
                        .zip(y)
                        .enumerate()
                        .filter(|(_, (p, q))| p != q)
                        .map(|(i, (p, q))| format!("column {i}: source {p:?} target {q:?}"))
                        .collect();
                    format!("row {:?}: {}", x[0], cols.join("; "))
                })
            };
            panic!(
                "targets never equalled the source (postgres {pg_ok}, mariadb {m_ok}); rows: source {} / pg {} / maria {}\n\
                 pg diff: {:?}\nmaria diff: {:?}\n{}",
                want_typed.len(),
                pg_typed.len(),
                m_typed.len(),
                first_diff(&want_typed, &pg_typed),
                first_diff(&want_typed, &m_typed),
                logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Both processes of the PostgreSQL group got partitions.
    for p in &pg_sinks {
        assert!(p.log_text().contains("partition assigned"), "{}", logs());
    }
    // MariaDB column types come from the documented mapping.
    let types: Vec<(String, String)> = maria
        .exec(
            "SELECT column_name, column_type FROM information_schema.columns
             WHERE table_schema = ? AND table_name = 'public_typed' ORDER BY ordinal_position",
            (maria_db.as_str(),),
        )
        .await?;
    let types: Vec<String> = types.into_iter().map(|(c, t)| format!("{c} {t}")).collect();
    assert_eq!(
        types.join(", "),
        "id int(11), n decimal(14,4), f double, ts datetime(6), tsl datetime(6), d date, u char(36), \
         j longtext, b longblob, flag tinyint(1), big longtext, vc varchar(20), i2 smallint(6), i8 bigint(20)"
    );
    Ok(())
}
