//! The offsets table: `sluice_offsets (sink_name, topic, partition, next_offset)` in the target,
//! written in the same transaction as the rows it covers, so the target's rows and the position
//! they correspond to can never disagree. Read at start; it wins over the group's broker offsets.

use sluice_core::sink::FencedWrite;
use sluice_core::BrokerOffset;
use tokio_postgres::Client;

use crate::error::PgError;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS public.sluice_offsets (\
    sink_name text NOT NULL, topic text NOT NULL, partition int NOT NULL, \
    next_offset bigint NOT NULL, PRIMARY KEY (sink_name, topic, partition))";

/// Create `sluice_offsets` if missing. Serialized with other sink processes by
/// [`crate::sink::ddl::DDL_LOCK`]: `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent
/// identical statement (one of them fails on the catalog's unique index).
pub async fn ensure_table(client: &Client) -> Result<(), PgError> {
    let sql =
        format!("BEGIN; SELECT pg_advisory_xact_lock({}); {CREATE}; COMMIT;", crate::sink::ddl::DDL_LOCK);
    client.batch_execute(&sql).await.map_err(|e| PgError::query("creating sluice_offsets", &e))
}

/// Compare-and-set `writes` for `sink` inside the caller's open transaction; returns how many
/// took effect. An existing row is updated only if it still holds `expected` (under READ
/// COMMITTED a concurrent update makes the predicate fail after waiting for it), a missing one is
/// inserted only if no other process inserted it meanwhile. Fewer than `writes.len()` means
/// another member of the group advanced a partition: the caller must roll back.
pub async fn write(client: &Client, sink: &str, writes: &[FencedWrite<'_>]) -> Result<usize, PgError> {
    if writes.is_empty() {
        return Ok(0);
    }
    let mut values = String::new();
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&sink];
    for (i, w) in writes.iter().enumerate() {
        if i > 0 {
            values.push(',');
        }
        let n = params.len();
        values.push_str(&format!(
            "(${}::text, ${}::int, ${}::bigint, ${}::bigint)",
            n + 1,
            n + 2,
            n + 3,
            n + 4
        ));
        params.push(&w.offset.topic);
        params.push(&w.offset.partition);
        params.push(&w.offset.next_offset);
        params.push(&w.expected);
    }
    let sql = format!(
        "WITH v (topic, partition, next_offset, expected) AS (VALUES {values}),
         upd AS (UPDATE public.sluice_offsets o SET next_offset = v.next_offset FROM v
                 WHERE o.sink_name = $1 AND o.topic = v.topic AND o.partition = v.partition
                   AND o.next_offset = v.expected RETURNING 1),
         ins AS (INSERT INTO public.sluice_offsets (sink_name, topic, partition, next_offset)
                 SELECT $1, topic, partition, next_offset FROM v WHERE expected IS NULL
                 ON CONFLICT DO NOTHING RETURNING 1)
         SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins)"
    );
    let row =
        client.query_one(&sql, &params).await.map_err(|e| PgError::query("writing sluice_offsets", &e))?;
    let n: i64 = row.get(0);
    Ok(usize::try_from(n).unwrap_or(0))
}

pub async fn read(client: &Client, sink: &str) -> Result<Vec<BrokerOffset>, PgError> {
    let rows = client
        .query(
            "SELECT topic, partition, next_offset FROM public.sluice_offsets WHERE sink_name = $1 ORDER BY 1, 2",
            &[&sink],
        )
        .await
        .map_err(|e| PgError::query("reading sluice_offsets", &e))?;
    Ok(rows
        .iter()
        .map(|r| BrokerOffset { topic: r.get(0), partition: r.get(1), next_offset: r.get(2) })
        .collect())
}
