//! Every target `sluice sink` can write. This list is the only place in the binary that names a
//! target: configuration (`[sink] type`), `sluice check` and `sluice sink` look targets up here.
//! A new target is a crate implementing [`sluice_core::Target`] plus one line below (see
//! docs/architecture.md, "Writing a target").

use std::sync::LazyLock;

use sluice_sink::TargetEntry;

static TARGETS: LazyLock<Vec<TargetEntry>> = LazyLock::new(|| {
    vec![
        TargetEntry::of::<sluice_postgres::PgTarget>(),
        TargetEntry::of::<sluice_mysql::MySqlTarget>(),
        TargetEntry::of::<sluice_redis::RedisTarget>(),
        TargetEntry::of::<sluice_mongodb::MongoTarget>(),
        TargetEntry::of::<sluice_dynamodb::DynamoTarget>(),
        TargetEntry::of::<sluice_opensearch::SearchTarget>(),
        TargetEntry::of::<sluice_s3::S3Target>(),
        TargetEntry::of::<sluice_iceberg::IcebergTarget>(),
    ]
});

/// The registered targets.
pub fn all() -> &'static [TargetEntry] {
    &TARGETS
}
