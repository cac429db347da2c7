//! The offsets table: `sluice_offsets (sink_name, topic, partition, next_offset)` in the target,
//! written in the same transaction as the rows it covers, so the target's rows and the position
//! they correspond to can never disagree. Read at start; it wins over the group's broker offsets.

use sluice_core::BrokerOffset;
use tokio_postgres::Client;

use crate::error::PgError;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS public.sluice_offsets (\
    sink_name text NOT NULL, topic text NOT NULL, partition int NOT NULL, \
    next_offset bigint NOT NULL, PRIMARY KEY (sink_name, topic, partition))";

pub async fn ensure_table(client: &Client) -> Result<(), PgError> {
    client.batch_execute(CREATE).await.map_err(|e| PgError::query("creating sluice_offsets", &e))
}

/// Upsert `offsets` for `sink`; runs inside the caller's open transaction.
pub async fn write(client: &Client, sink: &str, offsets: &[BrokerOffset]) -> Result<(), PgError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut sql =
        String::from("INSERT INTO public.sluice_offsets (sink_name, topic, partition, next_offset) VALUES ");
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&sink];
    for (i, o) in offsets.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let n = params.len();
        sql.push_str(&format!("($1, ${}, ${}, ${})", n + 1, n + 2, n + 3));
        params.push(&o.topic);
        params.push(&o.partition);
        params.push(&o.next_offset);
    }
    sql.push_str(
        " ON CONFLICT (sink_name, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
    );
    client.execute(&sql, &params).await.map_err(|e| PgError::query("writing sluice_offsets", &e))?;
    Ok(())
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
