//! The offsets table: `sluice_offsets (sink_name, topic, partition, next_offset)` in the offsets
//! database (the connection's `database`, default `sluice`), InnoDB, written in the same
//! transaction as the rows it covers, so the target's rows and the position they correspond to
//! commit together. Read at start; it wins over the group's broker offsets.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};
use sluice_core::BrokerOffset;

use crate::error::MySqlError;
use crate::sink::ddl::{ensure_database, quote_ident, TABLE_OPTIONS};

fn table(db: &str) -> String {
    format!("{}.sluice_offsets", quote_ident(db))
}

/// Create the offsets database and table if missing (DDL: commits implicitly; call outside a
/// transaction).
pub async fn ensure_table(conn: &mut Conn, db: &str) -> Result<(), MySqlError> {
    ensure_database(conn, db).await?;
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (sink_name VARCHAR(255) NOT NULL, topic VARCHAR(255) NOT NULL, \
         `partition` INT NOT NULL, next_offset BIGINT NOT NULL, \
         PRIMARY KEY (sink_name, topic, `partition`)) {TABLE_OPTIONS}",
        table(db)
    );
    conn.query_drop(sql).await.map_err(|e| MySqlError::sink_query("creating sluice_offsets", &e))
}

/// Upsert `offsets` for `sink`; runs inside the caller's open transaction.
pub async fn write(
    conn: &mut Conn,
    db: &str,
    sink: &str,
    offsets: &[BrokerOffset],
) -> Result<(), MySqlError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut sql = format!("INSERT INTO {} (sink_name, topic, `partition`, next_offset) VALUES ", table(db));
    let mut params: Vec<Value> = Vec::with_capacity(offsets.len() * 4);
    for (i, o) in offsets.iter().enumerate() {
        sql.push_str(if i == 0 { "(?,?,?,?)" } else { ",(?,?,?,?)" });
        params.push(Value::from(sink));
        params.push(Value::from(o.topic.as_str()));
        params.push(Value::from(o.partition));
        params.push(Value::from(o.next_offset));
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)");
    conn.exec_drop(sql, Params::Positional(params))
        .await
        .map_err(|e| MySqlError::sink_query("writing sluice_offsets", &e))
}

pub async fn read(conn: &mut Conn, db: &str, sink: &str) -> Result<Vec<BrokerOffset>, MySqlError> {
    let sql = format!(
        "SELECT topic, `partition`, next_offset FROM {} WHERE sink_name = ? ORDER BY topic, `partition`",
        table(db)
    );
    let rows: Vec<(String, i32, i64)> =
        conn.exec(sql, (sink,)).await.map_err(|e| MySqlError::sink_query("reading sluice_offsets", &e))?;
    Ok(rows
        .into_iter()
        .map(|(topic, partition, next_offset)| BrokerOffset { topic, partition, next_offset })
        .collect())
}
