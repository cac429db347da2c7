//! The Redis target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "redis"`, read back with redis-py and compared value by value with the source
//! table (tests/common/doc_targets.rs has the renderings): every field's text, NULLs as missing
//! fields, a composite key whose text contains `:`. Inserts, updates (unchanged TOAST values
//! included), deletes and a truncate run while the sink is killed with `kill -9` three times.

mod common;

use common::doc_targets::{survives_kill_nine, Doc};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_redis_survives_kill_nine_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    survives_kill_nine(Doc::Redis, "rds").await.map(|_| ())
}
