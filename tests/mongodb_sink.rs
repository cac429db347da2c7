//! The MongoDB target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "mongodb"` (SecantusDB), read back with pymongo and compared value by value with
//! the source table: Decimal128 decimals, UUIDs as binary subtype 4, jsonb as nested documents,
//! arrays, dates as BSON dates, timestamps as ISO-8601 text with microseconds, a composite key as
//! an `_id` sub-document. Inserts, updates (unchanged TOAST values included), deletes and a
//! truncate run while the sink is killed with `kill -9` three times.

mod common;

use common::doc_targets::{survives_kill_nine, Doc};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_mongodb_survives_kill_nine_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    survives_kill_nine(Doc::Mongo, "mgo").await.map(|_| ())
}
