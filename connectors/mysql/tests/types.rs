//! Every MySQL/MariaDB type family through the binlog source, value by value, against the bench's
//! MariaDB. Expected values come from the server itself by an independent route (SQL functions
//! such as DATEDIFF, TIMESTAMPDIFF, HEX, ST_AsBinary, and the text protocol's charset
//! conversion), never from the decoder under test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop)]

mod common;

use std::time::Duration;

use common::{bench, collect, config, exec};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use sluice_core::{ChangeEvent, DataType, Value};
use sluice_mysql::{MySqlSource, ZeroDateRule};

const T: Duration = Duration::from_secs(30);

fn my(row: &Row, i: usize) -> mysql_async::Value {
    row.as_ref(i).cloned().unwrap()
}

fn as_i64(v: &mysql_async::Value) -> Option<i64> {
    match v {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Int(i) => Some(*i),
        mysql_async::Value::UInt(u) => Some(*u as i64),
        mysql_async::Value::Bytes(b) => Some(std::str::from_utf8(b).unwrap().parse().unwrap()),
        other => panic!("not an integer: {other:?}"),
    }
}

fn as_text(v: &mysql_async::Value) -> Option<String> {
    match v {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8(b.clone()).unwrap()),
        other => panic!("not text: {other:?}"),
    }
}

fn unhex(v: &mysql_async::Value) -> Option<Vec<u8>> {
    let h = as_text(v)?;
    Some((0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect())
}

async fn rows(conn: &mut Conn, sql: &str) -> Vec<Row> {
    conn.query(sql).await.unwrap()
}

/// Events of `table` ordered by their `id` column (first).
fn by_id(events: &[ChangeEvent]) -> Vec<&ChangeEvent> {
    let mut v: Vec<&ChangeEvent> = events.iter().collect();
    v.sort_by_key(|e| match &e.after.as_ref().unwrap()[0] {
        Value::Int32(i) => *i,
        other => panic!("{other:?}"),
    });
    v
}

fn source_types(e: &ChangeEvent) -> Vec<(String, String)> {
    e.table.columns.iter().map(|c| (c.name.clone(), c.source_type.clone())).collect()
}

#[tokio::test]
async fn numeric() {
    let mut b = bench("num").await.unwrap();
    exec(
        &mut b.conn,
        "CREATE TABLE n (id INT PRIMARY KEY,
            ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
            mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
            d DECIMAL(10,2), d0 DECIMAL(5,0), dbig DECIMAL(65,30), dneg DECIMAL(20,10),
            f FLOAT, db DOUBLE, b1 BIT(1), b12 BIT(12), b64 BIT(64), y YEAR)",
    )
    .await
    .unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();
    exec(
        &mut b.conn,
        "INSERT INTO n VALUES
         (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
             -99999999.99, -99999, -99999999999999999999999999999999999.999999999999999999999999999999,
             -1234567890.0123456789, -1.5, -2.2250738585072014e-308, 0, 0, 0, 1901),
         (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
             18446744073709551615, 99999999.99, 99999,
             99999999999999999999999999999999999.999999999999999999999999999999,
             0.0000000001, 3.4e38, 1.7976931348623157e308, 1, b'111111111111', 18446744073709551615, 2155),
         (3, 0, 7, -1, 1, -1, 1, -1, 1, -1, 1, -0.50, 0, 0.000000000000000000000000000001, -0.5,
             0.1, 0.1, 0, b'000000000101', x'0123456789abcdef', 0),
         (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await
    .unwrap();
    let (events, _) = collect(&mut source, 4, T).await.unwrap();
    let events = by_id(&events);

    // Independent route: the server's text rendering of each value, BIT as integers.
    let expected = rows(
        &mut b.conn,
        "SELECT id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, CAST(d AS CHAR), CAST(d0 AS CHAR),
                CAST(dbig AS CHAR), CAST(dneg AS CHAR), f, db, b1+0, b12+0, CAST(b64+0 AS CHAR), y
         FROM n ORDER BY id",
    )
    .await;
    for (e, row) in events.iter().zip(&expected) {
        let after = e.after.as_ref().unwrap();
        let int = |i: usize| as_i64(&my(row, i));
        let want_ints: Vec<Value> = vec![
            int(1).map_or(Value::Null, |v| Value::Int16(v as i16)),
            int(2).map_or(Value::Null, |v| Value::Int16(v as i16)),
            int(3).map_or(Value::Null, |v| Value::Int16(v as i16)),
            int(4).map_or(Value::Null, |v| Value::Int32(v as i32)),
            int(5).map_or(Value::Null, |v| Value::Int32(v as i32)),
            int(6).map_or(Value::Null, |v| Value::Int32(v as i32)),
            int(7).map_or(Value::Null, |v| Value::Int32(v as i32)),
            int(8).map_or(Value::Null, Value::Int64),
            int(9).map_or(Value::Null, Value::Int64),
        ];
        assert_eq!(&after[1..10], &want_ints[..], "row {:?}", after[0]);
        let biu = match my(row, 10) {
            mysql_async::Value::NULL => Value::Null,
            mysql_async::Value::UInt(u) => Value::UInt64(u),
            mysql_async::Value::Int(i) => Value::UInt64(i as u64),
            mysql_async::Value::Bytes(b) => Value::UInt64(std::str::from_utf8(&b).unwrap().parse().unwrap()),
            other => panic!("{other:?}"),
        };
        assert_eq!(after[10], biu);
        for (col, i) in [(11, 11), (12, 12), (13, 13), (14, 14)] {
            assert_eq!(
                after[col],
                as_text(&my(row, i)).map_or(Value::Null, Value::Decimal),
                "decimal column {col}"
            );
        }
        let f = match my(row, 15) {
            mysql_async::Value::NULL => Value::Null,
            mysql_async::Value::Float(f) => Value::Float32(f),
            mysql_async::Value::Double(d) => Value::Float32(d as f32),
            mysql_async::Value::Bytes(b) => Value::Float32(std::str::from_utf8(&b).unwrap().parse().unwrap()),
            other => panic!("{other:?}"),
        };
        assert_eq!(after[15], f);
        let d = match my(row, 16) {
            mysql_async::Value::NULL => Value::Null,
            mysql_async::Value::Double(d) => Value::Float64(d),
            mysql_async::Value::Bytes(b) => Value::Float64(std::str::from_utf8(&b).unwrap().parse().unwrap()),
            other => panic!("{other:?}"),
        };
        assert_eq!(after[16], d);
        assert_eq!(after[17], int(17).map_or(Value::Null, |v| Value::Bool(v != 0)));
        // BIT(n > 1): little-endian bytes, ceil(n / 8) of them.
        assert_eq!(
            after[18],
            int(18).map_or(Value::Null, |v| Value::Bytes((v as u16).to_le_bytes().to_vec()))
        );
        let b64 = as_text(&my(row, 19)).map(|t| t.parse::<u64>().unwrap());
        assert_eq!(after[19], b64.map_or(Value::Null, |v| Value::Bytes(v.to_le_bytes().to_vec())));
        assert_eq!(after[20], int(20).map_or(Value::Null, |v| Value::Int32(v as i32)));
    }
    // Spot checks written out, so a server-side rendering change cannot hide a decoder bug.
    let max = events[1].after.as_ref().unwrap();
    assert_eq!(max[10], Value::UInt64(u64::MAX));
    assert_eq!(
        max[13],
        Value::Decimal("99999999999999999999999999999999999.999999999999999999999999999999".into())
    );
    assert_eq!(events[2].after.as_ref().unwrap()[11], Value::Decimal("-0.50".into()));
    assert_eq!(events[2].after.as_ref().unwrap()[20], Value::Int32(0), "YEAR 0000");

    // Signedness flags cover numeric columns only: YEAR and DECIMAL between them must not shift.
    exec(
        &mut b.conn,
        "CREATE TABLE sg (id INT PRIMARY KEY, y YEAR, u INT UNSIGNED, d DECIMAL(4,1), bu BIGINT UNSIGNED)",
    )
    .await
    .unwrap();
    exec(&mut b.conn, "INSERT INTO sg VALUES (1, 2000, 4294967295, -1.5, 18446744073709551615)")
        .await
        .unwrap();
    let (sg, _) = collect(&mut source, 1, T).await.unwrap();
    assert_eq!(
        sg[0].after.as_ref().unwrap()[1..],
        [
            Value::Int32(2000),
            Value::Int64(4_294_967_295),
            Value::Decimal("-1.5".into()),
            Value::UInt64(u64::MAX)
        ]
    );

    let types: Vec<DataType> = events[0].table.columns.iter().map(|c| c.data_type.clone()).collect();
    assert_eq!(
        types[1..],
        [
            DataType::Int16,
            DataType::Int16,
            DataType::Int16,
            DataType::Int32,
            DataType::Int32,
            DataType::Int32,
            DataType::Int32,
            DataType::Int64,
            DataType::Int64,
            DataType::UInt64,
            DataType::Decimal { precision: Some(10), scale: Some(2) },
            DataType::Decimal { precision: Some(5), scale: Some(0) },
            DataType::Decimal { precision: Some(65), scale: Some(30) },
            DataType::Decimal { precision: Some(20), scale: Some(10) },
            DataType::Float32,
            DataType::Float64,
            DataType::Bits(1),
            DataType::Bits(12),
            DataType::Bits(64),
            DataType::Int32,
        ]
    );
    let st: Vec<String> = source_types(events[0]).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        st[1..],
        [
            "tinyint",
            "tinyint unsigned",
            "smallint",
            "smallint unsigned",
            "mediumint",
            "mediumint unsigned",
            "int",
            "int unsigned",
            "bigint",
            "bigint unsigned",
            "decimal(10,2)",
            "decimal(5,0)",
            "decimal(65,30)",
            "decimal(20,10)",
            "float",
            "double",
            "bit(1)",
            "bit(12)",
            "bit(64)",
            "year",
        ]
    );
}

async fn utc(conn: &mut Conn) {
    exec(conn, "SET time_zone = '+00:00'").await.unwrap();
}

#[tokio::test]
async fn temporal() {
    let mut b = bench("tm").await.unwrap();
    utc(&mut b.conn).await;
    exec(&mut b.conn, "SET sql_mode = ''").await.unwrap(); // allow zero dates
    exec(
        &mut b.conn,
        "CREATE TABLE tm (id INT PRIMARY KEY, d DATE, t TIME, t6 TIME(6), t2 TIME(2), t3 TIME(3),
            dt DATETIME, dt6 DATETIME(6), dt1 DATETIME(1), dt4 DATETIME(4),
            ts TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL, ts3 TIMESTAMP(3) NULL, y YEAR,
            dnn DATE NOT NULL DEFAULT '2000-01-01', dtnn DATETIME NOT NULL DEFAULT '2000-01-01')",
    )
    .await
    .unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();
    exec(
        &mut b.conn,
        "INSERT INTO tm VALUES
         (1, '2024-02-29', '838:59:59', '-838:59:59.999999', '-00:00:00.01', '-01:02:03.456',
             '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '2024-06-01 12:34:56.7',
             '1969-07-20 20:17:40.1234', '1970-01-01 00:00:01', '2038-01-19 03:14:07.999999',
             '2024-01-02 03:04:05.678', 2024, '1969-12-31', '1969-12-31 23:59:59'),
         (2, '0001-01-01', '-838:59:59', '838:59:59.999999', '-00:00:01.01', '00:00:00.001',
             '2000-02-29 00:00:00', '1970-01-01 00:00:00.000001', '1899-12-31 23:59:59.9',
             '2000-01-01 00:00:00.0001', '1999-12-31 23:59:59', NULL, '1999-12-31 23:59:59.999', 1901,
             '9999-12-31', '9999-12-31 23:59:59'),
         (3, '0000-00-00', '-00:00:00', '-00:00:00.000001', '00:00:00', '-12:00:00.5',
             '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', NULL, NULL, '0000-00-00 00:00:00',
             NULL, NULL, NULL, '0000-00-00', '0000-00-00 00:00:00'),
         (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             '2000-01-01', '2000-01-01 00:00:00')",
    )
    .await
    .unwrap();
    let (events, _) = collect(&mut source, 4, T).await.unwrap();
    let events = by_id(&events);

    let time = |c: &str| {
        format!(
            "IF({c} < TIME'00:00:00', -1, 1) * ((HOUR({c}) * 3600 + MINUTE({c}) * 60 + SECOND({c})) * 1000000 + MICROSECOND({c}))"
        )
    };
    let micros = |c: &str| format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {c})");
    let sql = format!(
        "SELECT id, DATEDIFF(d, '1970-01-01'), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, y,
                DATEDIFF(dnn, '1970-01-01'), {} FROM tm ORDER BY id",
        time("t"),
        time("t6"),
        time("t2"),
        time("t3"),
        micros("dt"),
        micros("dt6"),
        micros("dt1"),
        micros("dt4"),
        micros("ts"),
        micros("ts6"),
        micros("ts3"),
        micros("dtnn"),
    );
    let expected = rows(&mut b.conn, &sql).await;
    type Wrap = fn(i64) -> Value;
    let wraps: [Wrap; 15] = [
        |v| Value::Date(v as i32),
        Value::Time,
        Value::Time,
        Value::Time,
        Value::Time,
        Value::Timestamp,
        Value::Timestamp,
        Value::Timestamp,
        Value::Timestamp,
        Value::TimestampTz,
        Value::TimestampTz,
        Value::TimestampTz,
        |v| Value::Int32(v as i32),
        |v| Value::Date(v as i32),
        Value::Timestamp,
    ];
    for (e, row) in events.iter().zip(&expected) {
        let after = e.after.as_ref().unwrap();
        let id = as_i64(&my(row, 0)).unwrap();
        for (i, wrap) in wraps.iter().enumerate() {
            let want = as_i64(&my(row, i + 1)).map_or(Value::Null, wrap);
            if id == 3 && matches!(i, 0 | 5 | 6 | 9 | 13 | 14) {
                continue; // zero dates: checked below
            }
            assert_eq!(after[i + 1], want, "row {id} column {}", e.table.columns[i + 1].name);
        }
    }
    // Written out: the extremes of TIME and the fractional negative cases.
    let r1 = events[0].after.as_ref().unwrap();
    assert_eq!(r1[2], Value::Time((838 * 3600 + 59 * 60 + 59) * 1_000_000));
    assert_eq!(r1[3], Value::Time(-((838 * 3600 + 59 * 60 + 59) * 1_000_000 + 999_999)));
    assert_eq!(r1[4], Value::Time(-10_000));
    assert_eq!(r1[5], Value::Time(-3_723_456_000));
    assert_eq!(r1[10], Value::TimestampTz(1_000_000));
    assert_eq!(events[2].after.as_ref().unwrap()[3], Value::Time(-1));

    // Zero dates under the default rule: NULL when nullable, the epoch when NOT NULL.
    let z = events[2].after.as_ref().unwrap();
    assert_eq!(z[1], Value::Null, "DATE 0000-00-00");
    assert_eq!(z[6], Value::Null, "DATETIME zero");
    assert_eq!(z[7], Value::Null, "DATETIME(6) zero");
    assert_eq!(z[10], Value::Null, "TIMESTAMP zero");
    assert_eq!(z[14], Value::Date(0), "NOT NULL DATE zero → epoch");
    assert_eq!(z[15], Value::Timestamp(0), "NOT NULL DATETIME zero → epoch");

    let st: Vec<String> = source_types(events[0]).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        st[1..],
        [
            "date",
            "time",
            "time(6)",
            "time(2)",
            "time(3)",
            "datetime",
            "datetime(6)",
            "datetime(1)",
            "datetime(4)",
            "timestamp",
            "timestamp(6)",
            "timestamp(3)",
            "year",
            "date",
            "datetime"
        ]
    );
    let types: Vec<DataType> = events[0].table.columns.iter().map(|c| c.data_type.clone()).collect();
    assert_eq!(types[1], DataType::Date);
    assert_eq!(types[2], DataType::Time);
    assert_eq!(types[6], DataType::Timestamp);
    assert_eq!(types[10], DataType::TimestampTz);

    // The other rules, on a second source reading the same rows.
    for (rule, want) in [(ZeroDateRule::Epoch, Some(Value::Date(0))), (ZeroDateRule::Error, None)] {
        let mut cfg = config(&b.db);
        cfg.zero_date = rule;
        let mut s2 = MySqlSource::start(cfg, None).await.unwrap();
        exec(&mut b.conn, "INSERT INTO tm (id, d) VALUES (10, '0000-00-00')").await.unwrap();
        let got = collect(&mut s2, 1, T).await;
        match want {
            Some(v) => assert_eq!(got.unwrap().0[0].after.as_ref().unwrap()[1], v),
            None => {
                let e = got.unwrap_err().to_string();
                assert!(e.contains("zero") && e.contains("column d"), "{e}");
            }
        }
        exec(&mut b.conn, "DELETE FROM tm WHERE id = 10").await.unwrap();
    }
}

#[tokio::test]
async fn text_and_binary() {
    let mut b = bench("tx").await.unwrap();
    exec(
        &mut b.conn,
        "CREATE TABLE tx (id INT PRIMARY KEY,
            c CHAR(5), vc VARCHAR(20), tt TINYTEXT, t TEXT, mt MEDIUMTEXT, lt LONGTEXT, big VARCHAR(300),
            l1c CHAR(5) CHARACTER SET latin1, l1v VARCHAR(20) CHARACTER SET latin1,
            l1t TEXT CHARACTER SET latin1, asc1 VARCHAR(10) CHARACTER SET ascii,
            u3 VARCHAR(10) CHARACTER SET utf8mb3,
            bn BINARY(4), vb VARBINARY(20), bl BLOB, tb TINYBLOB, mb MEDIUMBLOB, lb LONGBLOB)
         DEFAULT CHARSET = utf8mb4",
    )
    .await
    .unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();
    let long: String = "ü".repeat(300);
    exec(
        &mut b.conn,
        &format!(
            "INSERT INTO tx VALUES
             (1, 'ab', '😀 añ', 'tiny', 'text ✓', 'medium', 'long \\n\\t\"q\"', '{long}',
                 'é€', '€ Ÿ é ‰ ÿ', 'latin1 text: ¡hola! ž', 'plain', 'ñandú',
                 'ab', x'00ff80fe', x'c328', x'', x'deadbeef', x'00'),
             (2, '', '', '', '', '', '', '', '', '', '', '', '', x'', x'', x'', x'', x'', x''),
             (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                 NULL, NULL, NULL, NULL, NULL, NULL)"
        ),
    )
    .await
    .unwrap();
    let (events, _) = collect(&mut source, 3, T).await.unwrap();
    let events = by_id(&events);

    // Text columns through the text protocol (the server converts latin1 to utf8mb4 itself);
    // binary columns as HEX().
    let expected = rows(
        &mut b.conn,
        "SELECT id, c, vc, tt, t, mt, lt, big, l1c, l1v, l1t, asc1, u3,
                HEX(bn), HEX(vb), HEX(bl), HEX(tb), HEX(mb), HEX(lb) FROM tx ORDER BY id",
    )
    .await;
    for (e, row) in events.iter().zip(&expected) {
        let after = e.after.as_ref().unwrap();
        for i in 1..=12 {
            assert_eq!(after[i], as_text(&my(row, i)).map_or(Value::Null, Value::Text), "column {i}");
        }
        for i in 13..=18 {
            assert_eq!(after[i], unhex(&my(row, i)).map_or(Value::Null, Value::Bytes), "column {i}");
        }
    }
    let r1 = events[0].after.as_ref().unwrap();
    assert_eq!(r1[9], Value::Text("€ Ÿ é ‰ ÿ".into()), "latin1 is cp1252 in MySQL");
    assert_eq!(r1[13], Value::Bytes(vec![b'a', b'b', 0, 0]), "BINARY pads with zero bytes");
    assert_eq!(r1[14], Value::Bytes(vec![0x00, 0xff, 0x80, 0xfe]), "non-UTF-8 bytes kept");
    assert_eq!(r1[7], Value::Text(long));

    let st: Vec<String> = source_types(events[0]).into_iter().map(|(_, t)| t).collect();
    assert_eq!(
        st[1..],
        [
            "char(5)",
            "varchar(20)",
            "tinytext",
            "text",
            "mediumtext",
            "longtext",
            "varchar(300)",
            "char(5)",
            "varchar(20)",
            "text",
            "varchar(10)",
            "varchar(10)",
            "binary(4)",
            "varbinary(20)",
            "blob",
            "tinyblob",
            "mediumblob",
            "longblob"
        ]
    );
    let types: Vec<DataType> = events[0].table.columns.iter().map(|c| c.data_type.clone()).collect();
    assert!(types[1..=12].iter().all(|t| *t == DataType::Text));
    assert!(types[13..].iter().all(|t| *t == DataType::Bytes));
}

#[tokio::test]
async fn json_enum_set_geometry() {
    let mut b = bench("js").await.unwrap();
    let many: Vec<String> = (0..300).map(|i| format!("'v{i}'")).collect();
    let set64: Vec<String> = (0..64).map(|i| format!("'s{i}'")).collect();
    exec(
        &mut b.conn,
        &format!(
            "CREATE TABLE js (id INT PRIMARY KEY, j JSON, e ENUM('a','b c','it''s','€'), s SET('x','y','z'),
                e300 ENUM({}), s64 SET({}), g GEOMETRY, p POINT, el ENUM('é','ü') CHARACTER SET latin1,
                lt TEXT CHARACTER SET latin1)",
            many.join(","),
            set64.join(",")
        ),
    )
    .await
    .unwrap();
    let mut source = MySqlSource::start(config(&b.db), None).await.unwrap();
    exec(
        &mut b.conn,
        r#"INSERT INTO js VALUES
           (1, '{"a": 1, "b": [true, null, "x\\"y"], "c": {"d": 1.5e3}}', 'it''s', 'x,z', 'v299',
               's0,s63', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), POINT(1.5, -2.25), 'ü', 'Ÿé'),
           (2, '[]', '€', '', 'v0', '', ST_GeomFromText('POINT(3 4)', 4326), POINT(0, 0), 'é', ''),
           (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"#,
    )
    .await
    .unwrap();
    let (events, _) = collect(&mut source, 3, T).await.unwrap();
    let events = by_id(&events);
    let expected = rows(
        &mut b.conn,
        "SELECT id, j, e, s, e300, s64, HEX(ST_AsBinary(g)), HEX(ST_AsBinary(p)), el, lt FROM js ORDER BY id",
    )
    .await;
    for (e, row) in events.iter().zip(&expected) {
        let after = e.after.as_ref().unwrap();
        assert_eq!(after[1], as_text(&my(row, 1)).map_or(Value::Null, Value::Json));
        for i in 2..=5 {
            assert_eq!(after[i], as_text(&my(row, i)).map_or(Value::Null, Value::Text), "column {i}");
        }
        assert_eq!(after[6], unhex(&my(row, 6)).map_or(Value::Null, Value::Bytes), "geometry as WKB");
        assert_eq!(after[7], unhex(&my(row, 7)).map_or(Value::Null, Value::Bytes), "point as WKB");
        assert_eq!(after[8], as_text(&my(row, 8)).map_or(Value::Null, Value::Text));
        assert_eq!(
            after[9],
            as_text(&my(row, 9)).map_or(Value::Null, Value::Text),
            "latin1 text after geometry"
        );
    }
    let r1 = events[0].after.as_ref().unwrap();
    assert_eq!(r1[2], Value::Text("it's".into()));
    assert_eq!(r1[3], Value::Text("x,z".into()));
    assert_eq!(r1[5], Value::Text("s0,s63".into()));

    let cols = &events[0].table.columns;
    assert_eq!(cols[1].data_type, DataType::Json, "MariaDB JSON (LONGTEXT + json_valid) is JSON");
    assert_eq!(cols[1].source_type, "json");
    assert_eq!(cols[2].data_type, DataType::Enum(vec!["a".into(), "b c".into(), "it's".into(), "€".into()]));
    assert_eq!(cols[2].source_type, "enum('a','b c','it''s','€')");
    assert_eq!(cols[3].data_type, DataType::Set(vec!["x".into(), "y".into(), "z".into()]));
    assert!(matches!(&cols[4].data_type, DataType::Enum(v) if v.len() == 300));
    assert!(matches!(&cols[5].data_type, DataType::Set(v) if v.len() == 64));
    assert_eq!(cols[6].data_type, DataType::Bytes);
    assert_eq!((cols[6].source_type.as_str(), cols[7].source_type.as_str()), ("geometry", "point"));
    assert_eq!(cols[8].data_type, DataType::Enum(vec!["é".into(), "ü".into()]));
}
