//! The offsets table: `sluice_offsets (sink_name, topic, partition, next_offset)` in the offsets
//! database (the connection's `database`, default `sluice`), InnoDB, written in the same
//! transaction as the rows it covers, so the target's rows and the position they correspond to
//! commit together. Read at start; it wins over the group's broker offsets.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use sluice_core::sink::FencedWrite;
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

/// Compare-and-set `writes` for `sink` inside the caller's open transaction; returns how many
/// took effect. An existing row is updated only if it still holds `expected` (InnoDB re-reads
/// the latest committed version for an UPDATE after waiting for a concurrent writer); a missing
/// one is inserted only if absent. Fewer than `writes.len()` means another member of the group
/// advanced a partition: the caller must roll back. (`writes` only holds changed offsets, so an
/// UPDATE that matched always changes the row and counts as affected.)
pub async fn write(
    conn: &mut Conn,
    db: &str,
    sink: &str,
    writes: &[FencedWrite<'_>],
) -> Result<usize, MySqlError> {
    let mut done = 0;
    for w in writes {
        let o = w.offset;
        let affected = match w.expected {
            Some(expected) => {
                let sql = format!(
                    "UPDATE {} SET next_offset = ? WHERE sink_name = ? AND topic = ? AND `partition` = ? AND next_offset = ?",
                    table(db)
                );
                conn.exec_drop(sql, (o.next_offset, sink, o.topic.as_str(), o.partition, expected))
                    .await
                    .map_err(|e| MySqlError::sink_query("writing sluice_offsets", &e))?;
                conn.affected_rows()
            }
            None => {
                let sql = format!(
                    "INSERT INTO {} (sink_name, topic, `partition`, next_offset) VALUES (?,?,?,?) \
                     ON DUPLICATE KEY UPDATE next_offset = next_offset",
                    table(db)
                );
                conn.exec_drop(sql, (sink, o.topic.as_str(), o.partition, o.next_offset))
                    .await
                    .map_err(|e| MySqlError::sink_query("writing sluice_offsets", &e))?;
                conn.affected_rows()
            }
        };
        done += usize::from(affected == 1);
    }
    Ok(done)
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
