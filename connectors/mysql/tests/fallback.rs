//! The information_schema fallback (used when `binlog_row_metadata` is not FULL) describes every
//! type family exactly as the FULL TABLE_MAP metadata does, and `sluice check` reports the
//! metadata setting with expected and actual values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bench, collect, config, exec};
use mysql_async::prelude::Queryable;
use sluice_core::{CheckOutcome, TableId};
use sluice_mysql::charset::Charsets;
use sluice_mysql::schema::infoschema::InfoTable;
use sluice_mysql::MySqlSource;

#[tokio::test]
async fn information_schema_matches_full_binlog_metadata() {
    let mut b = bench("fallback").await.unwrap();
    exec(
        &mut b.conn,
        "CREATE TABLE f (id INT UNSIGNED NOT NULL, k2 VARCHAR(8) NOT NULL,
            ti TINYINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, bi BIGINT, biu BIGINT UNSIGNED,
            d DECIMAL(12,3), fl FLOAT, db DOUBLE, b5 BIT(5), y YEAR,
            dt DATE, t TIME(3), dtm DATETIME(6), ts TIMESTAMP(2) NULL,
            c CHAR(4), vc VARCHAR(300), l1 VARCHAR(7) CHARACTER SET latin1, tx MEDIUMTEXT,
            bn BINARY(3), vb VARBINARY(9), bl LONGBLOB,
            j JSON, e ENUM('x','y''z'), s SET('p','q'), g GEOMETRY, pt POINT,
            PRIMARY KEY (k2, id))",
    )
    .await
    .unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();
    exec(&mut b.conn, "INSERT INTO f (id, k2) VALUES (1, 'a')").await.unwrap();
    let (events, _) = collect(&mut source, 1, Duration::from_secs(20)).await.unwrap();
    let from_binlog = &events[0].table;

    let mut conn = sluice_testkit::testbed().mariadb.connect(None).await.unwrap();
    let charsets = Charsets::load(&mut conn).await;
    let info = InfoTable::load(&mut conn, &TableId::new(&b.db, "f")).await.unwrap().unwrap();
    let from_info = info.to_table_def(&charsets).unwrap().schema;
    assert_eq!(from_info.columns, from_binlog.columns);
    assert_eq!(from_info.key, vec![1, 0], "primary key in key order");
    assert_eq!(from_info.key, from_binlog.key);

    assert!(InfoTable::load(&mut conn, &TableId::new(&b.db, "missing")).await.unwrap().is_none());
}

#[tokio::test]
async fn preflight_reports_binlog_row_metadata() {
    let tb = sluice_testkit::testbed();
    let checks = sluice_mysql::preflight::check_source("source", &common::endpoint(), false).await;
    let c = checks.iter().find(|c| c.name == "binlog_row_metadata").expect("the check runs");
    assert!(matches!(&c.outcome, CheckOutcome::Pass { detail } if detail == "FULL"), "{c:?}");

    // The statement-format bench server is only used by preflight tests: switch its metadata to
    // MINIMAL for a moment.
    let m = &tb.mariadb_statement;
    let mut admin = m.connect(None).await.unwrap();
    admin.query_drop("SET GLOBAL binlog_row_metadata = 'MINIMAL'").await.unwrap();
    let mut ep = common::endpoint();
    ep.port = m.port;
    let checks = sluice_mysql::preflight::check_source("source", &ep, false).await;
    admin.query_drop("SET GLOBAL binlog_row_metadata = 'FULL'").await.unwrap();
    let c = checks.iter().find(|c| c.name == "binlog_row_metadata").unwrap();
    match &c.outcome {
        CheckOutcome::Fail { expected, actual } => {
            assert_eq!((expected.as_str(), actual.as_str()), ("FULL", "MINIMAL"));
            assert!(c.hint.contains("binlog_row_metadata=FULL"), "{}", c.hint);
        }
        other => panic!("{other:?}"),
    }
}
