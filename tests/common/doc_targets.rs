//! The document/key-value targets as the end-to-end tests drive them: each target's `[sink]`
//! settings, the SQL that renders the source tables of [`super::DOC_DDL`] the way the target's own
//! client reads them back (tests/python/*_rows.py), and that read-back.

use super::KeyedRows;
use sluice_testkit::testbed;

/// The `items` columns every reader returns, after the key.
pub const ITEM_COLUMNS: &str = "name,price,ts,d,flag,doc,u,tags,big";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Redis,
    Mongo,
    Dynamo,
    Search,
}

impl Doc {
    pub const ALL: [Doc; 4] = [Doc::Redis, Doc::Mongo, Doc::Dynamo, Doc::Search];

    /// `[sink] type`, then the target's settings for namespace `ns` (key prefix, database or
    /// table prefix).
    pub fn settings(self, ns: &str) -> String {
        let tb = testbed();
        match self {
            Doc::Redis => format!(
                "type = \"redis\"\nkey_pattern = \"{ns}.{{table}}\"\n[sink.connection]\nurl = \"{}\"\n",
                tb.redis.url()
            ),
            Doc::Mongo => format!(
                "type = \"mongodb\"\ndatabase = \"{ns}\"\ncollection_pattern = \"{{table}}\"\n[sink.connection]\nurl = \"{}\"\n",
                tb.mongodb.url()
            ),
            Doc::Dynamo => format!(
                "type = \"dynamodb\"\ntable_pattern = \"{ns}.{{table}}\"\n[sink.connection]\nendpoint_url = \"{}\"\n\
                 region = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n",
                tb.dynamodb.url()
            ),
            Doc::Search => format!(
                "type = \"opensearch\"\nindex_pattern = \"{ns}.{{table}}\"\n[sink.connection]\nurl = \"{}\"\n",
                tb.opensearch.url()
            ),
        }
    }

    /// A whole sink config: group and offsets name `ns`, the topics of source prefix `prefix`.
    pub fn sink_config(self, ns: &str, prefix: &str, registry_port: u16) -> String {
        self.sink_config_for(ns, &format!("^{prefix}\\.public\\..*"), &self.settings(ns), registry_port)
    }

    /// A whole sink config with target `settings` ([`Self::settings`]), reading the topics that
    /// match `topic_regex`.
    pub fn sink_config_for(self, ns: &str, topic_regex: &str, settings: &str, registry_port: u16) -> String {
        let (sink_keys, connection) = settings.split_once("[sink.connection]").map_or_else(
            || (String::new(), String::new()),
            |(a, b)| (a.to_owned(), format!("[sink.connection]{b}")),
        );
        format!(
            "[log]\nlevel = \"info\"\n\
             [sink]\nname = \"{ns}\"\ngroup_id = \"{ns}\"\ntopic_regex = '{topic_regex}'\n\
             batch_max_events = 500\nbatch_max_ms = 50\n{sink_keys}{connection}\
             [kafka]\nbootstrap_servers = \"{}\"\n\
             [kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\
             [registry]\nurl = \"http://127.0.0.1:{registry_port}\"\n",
            testbed().kafka.bootstrap
        )
    }

    /// `items` rendered as this target's reader prints it: key, then [`ITEM_COLUMNS`].
    pub fn items_sql(self) -> &'static str {
        match self {
            // Text fields; timestamps with `+00:00`, JSON as the source's text.
            Doc::Redis => "SELECT id::text, name, price::text,
                to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00', d::text, flag::text,
                doc::text, u::text, to_json(tags)::text, big FROM items",
            // Decimal128 keeps the scale; UUID as binary subtype 4 (hex); dates as BSON dates.
            Doc::Mongo => "SELECT id::text, name, price::text,
                to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', d::text || 'T00:00:00', flag::text,
                replace(doc::text, ' ', ''), replace(u::text, '-', ''), to_json(tags)::text, big FROM items",
            // Decimals as exact strings; timestamps ISO with `Z`; objects with sorted keys.
            Doc::Search => "SELECT id::text, name, price::text,
                to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', d::text, flag::text,
                replace(doc::text, ' ', ''), u::text, to_json(tags)::text, big FROM items",
            // N normalizes the scale (12.50 → 12.5); maps rendered with sorted keys.
            Doc::Dynamo => "SELECT id::text, name, trim_scale(price)::text,
                to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z', d::text, flag::text,
                replace(doc::text, ' ', ''), u::text, to_json(tags)::text, big FROM items",
        }
    }

    /// `stock` keyed as this target's reader prints the composite key, then `qty`.
    pub fn stock_sql(self) -> &'static str {
        match self {
            Doc::Redis | Doc::Search => {
                "SELECT replace(replace(sku, '\\', '\\\\'), ':', '\\:') || ':' || wh, qty::text FROM stock"
            }
            Doc::Mongo | Doc::Dynamo => {
                "SELECT replace(json_build_object('sku', sku, 'wh', wh)::text, ' ', ''), qty::text FROM stock"
            }
        }
    }

    /// `items` and `stock` of namespace `ns`, read with the target system's own client.
    pub fn read(self, ns: &str) -> anyhow::Result<Vec<KeyedRows>> {
        let tb = testbed();
        Ok(match self {
            Doc::Redis => {
                let url = tb.redis.url();
                vec![
                    super::python_rows("redis_rows.py", &[&url, &format!("{ns}.items"), ITEM_COLUMNS])?,
                    super::python_rows("redis_rows.py", &[&url, &format!("{ns}.stock"), "qty"])?,
                ]
            }
            Doc::Mongo => {
                let url = tb.mongodb.url();
                vec![
                    super::python_rows("mongo_rows.py", &[&url, ns, "items", ITEM_COLUMNS])?,
                    super::python_rows("mongo_rows.py", &[&url, ns, "stock", "qty"])?,
                ]
            }
            Doc::Dynamo => {
                let url = tb.dynamodb.url();
                vec![
                    super::python_rows(
                        "dynamodb_rows.py",
                        &[&url, &format!("{ns}.items"), "id", ITEM_COLUMNS],
                    )?,
                    super::python_rows("dynamodb_rows.py", &[&url, &format!("{ns}.stock"), "sku,wh", "qty"])?,
                ]
            }
            Doc::Search => {
                let url = tb.opensearch.url();
                vec![
                    super::python_rows("opensearch_rows.py", &[&url, &format!("{ns}.items"), ITEM_COLUMNS])?,
                    super::python_rows("opensearch_rows.py", &[&url, &format!("{ns}.stock"), "qty"])?,
                ]
            }
        })
    }

    /// The source database's `items` and `stock` rendered for this target.
    pub async fn want(self, src: &tokio_postgres::Client) -> anyhow::Result<Vec<KeyedRows>> {
        Ok(vec![
            super::keyed_pg_rows(src, self.items_sql()).await?,
            super::keyed_pg_rows(src, self.stock_sql()).await?,
        ])
    }
}

/// What [`survives_kill_nine`] leaves for a caller to check further.
pub struct KillNineRun {
    /// The target namespace (index/table/key prefix, database).
    pub ns: String,
    /// The source's topic prefix.
    pub prefix: String,
    /// The source, still running (it serves the registry).
    pub source: super::SluiceProcess,
    pub src: tokio_postgres::Client,
    pub dir: std::path::PathBuf,
    pub config: String,
    /// The rows the target holds (= the source's), as [`Doc::want`] renders them.
    pub want: Vec<KeyedRows>,
}

/// The `kill -9` end-to-end test of one target: PostgreSQL source → broker → the target, the
/// [`super::spawn_doc_writer`] workload while the sink is killed three times, then the target
/// read back and compared value by value.
pub async fn survives_kill_nine(target: Doc, name: &str) -> anyhow::Result<KillNineRun> {
    let t = std::time::Duration::from_secs(180);
    let tb = testbed();
    let src_db = tb.postgres.create_database(&format!("{name}src")).await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute(super::DOC_DDL).await?;
    let dir = tb.scratch_dir(&format!("{name}sink"))?;
    let prefix = sluice_testkit::unique(name);
    let port = sluice_testkit::free_port()?;
    let mut source =
        super::start_source(&dir, "source", &super::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    super::wait_log(&mut source, "streaming", t).await?;
    let ns = sluice_testkit::unique(&format!("{name}ns"));
    let config = target.sink_config(&ns, &prefix, port);
    let writer = super::spawn_doc_writer(&src_db).await?;
    super::kill_sink_three_times(&dir, &config).await?;
    writer.await??;
    let mut sink = super::start_sink(&dir, "final", &config)?;
    let want = target.want(&src).await?;
    anyhow::ensure!(want[0].len() > 8000 && !want[1].is_empty(), "the workload wrote too little");
    super::wait_keyed_rows_equal(&mut sink, || target.read(&ns), &want, t).await?;
    sink.child.kill()?;
    Ok(KillNineRun { ns, prefix, source, src, dir, config, want })
}
