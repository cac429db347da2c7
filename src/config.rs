//! The configuration file: TOML, with `SLUICE__SECTION__KEY=value` environment overrides.
//!
//! Invariants: unknown keys are errors (every struct denies them), so a typo never silently
//! falls back to a default. Secrets are [`sluice_core::Secret`] and never printed. Environment
//! overrides are applied to the parsed TOML tree before typed deserialization, so they obey the
//! same validation as the file; an override takes the type of the value it replaces, or is
//! inferred (integer, float, boolean, else string) when the key is absent from the file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use sluice_kafka::KafkaConfig;
use sluice_kinesis::KinesisConfig;
use sluice_postgres::source::PgSourceConfig;

/// Prefix of environment overrides; `__` separates path segments.
pub const ENV_PREFIX: &str = "SLUICE__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("invalid config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid environment override {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub log: LogConfig,
    /// HTTP listener for `/metrics`, `/health` and `/ready`; off when absent.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    #[serde(default)]
    pub source: Option<SourceConfig>,
    #[serde(default)]
    pub sink: Option<SinkConfig>,
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    /// Which broker carries the change events (`[broker] type`, Kafka by default).
    #[serde(default)]
    pub broker: BrokerConfig,
    /// Kinesis Data Streams settings, for `[broker] type = "kinesis"`.
    #[serde(default)]
    pub kinesis: Option<KinesisConfig>,
    #[serde(default)]
    pub registry: Option<RegistryConfig>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BrokerKind {
    #[default]
    Kafka,
    Kinesis,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    #[serde(rename = "type", default)]
    pub kind: BrokerKind,
}

impl Config {
    /// The Kinesis settings when Kinesis carries the change events; `None` for Kafka.
    pub fn kinesis_broker(&self) -> Result<Option<&KinesisConfig>, ConfigError> {
        match (self.broker.kind, &self.kinesis) {
            (BrokerKind::Kafka, None) => Ok(None),
            (BrokerKind::Kafka, Some(_)) => Err(ConfigError::Invalid(
                "a [kinesis] section is set but [broker] type is \"kafka\" (the default): set \
                 [broker] type = \"kinesis\" or remove [kinesis]"
                    .into(),
            )),
            (BrokerKind::Kinesis, None) => Err(ConfigError::Invalid(
                "[broker] type = \"kinesis\" needs a [kinesis] section (stream_pattern, \
                 shard_count, [kinesis.connection])"
                    .into(),
            )),
            (BrokerKind::Kinesis, Some(k)) => {
                k.ensure_valid().map_err(|e| ConfigError::Invalid(format!("[kinesis] {e}")))?;
                Ok(Some(k))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `sluice=debug,rdkafka=warn`. `RUST_LOG` wins if set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_log_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: default_log_level() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind, e.g. `127.0.0.1:9600`.
    pub listen: SocketAddr,
}

/// Where change events come from. `type` selects the engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SourceConfig {
    Postgres(Box<PgSourceConfig>),
    Mysql(Box<sluice_mysql::MySqlSourceConfig>),
}

/// What the sink does with a record it cannot apply (undecodable bytes, a constraint violation,
/// a value out of the target column's range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Stop the sink; nothing at or after the record is committed (default).
    #[default]
    Fail,
    /// Write the original record, with error headers, to `dead_letter_topic` and go on.
    DeadLetter,
}

/// `[sink]`: which topics to apply to which target, and how. `type` selects the target (see
/// [`crate::targets`]); the keys below belong to the sink runtime, every other key (and
/// `[sink.connection]`) is the target's own, parsed by the target with unknown keys refused
/// (see docs/configuration.md).
#[derive(Debug, Clone, Deserialize)]
pub struct SinkConfig {
    #[serde(rename = "type")]
    pub target: String,
    /// The target's settings: every key not named here.
    #[serde(flatten)]
    pub settings: toml::Table,
    /// This sink's name: the key of its rows in the target's `sluice_offsets` table.
    #[serde(default = "default_sink_name")]
    pub name: String,
    /// Kafka consumer group; sink processes of one group share the partitions.
    #[serde(default = "default_sink_name")]
    pub group_id: String,
    /// This process's static group membership id (`group.instance.id`); default
    /// `<name>@<hostname>`. Must differ between sink processes of one group running at the same
    /// time (set it when running several on one host); `""` turns static membership off.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Topics to apply, by name (exclusive with `topic_regex`).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Topics to apply, by regular expression (anchored at the start).
    #[serde(default)]
    pub topic_regex: Option<String>,
    /// Most events per target transaction (default 10000).
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    /// Longest wait for a batch to fill once its first event arrived, ms (default 200).
    #[serde(default = "default_batch_max_ms")]
    pub batch_max_ms: u64,
    /// `fail` (default) or `dead-letter` a record that cannot be applied.
    #[serde(default)]
    pub on_error: OnError,
    /// Dead-letter topic (default `<name>.dlq`).
    #[serde(default)]
    pub dead_letter_topic: Option<String>,
    /// Apply each source transaction atomically, in source commit order (needs the source's
    /// transaction topic in `transaction_topic`, and one sink process per group).
    #[serde(default)]
    pub transaction_consistent: bool,
    /// The source's transaction metadata topic, e.g. `<prefix>.transaction`.
    #[serde(default)]
    pub transaction_topic: Option<String>,
}

impl SinkConfig {
    /// The target `type` names, with its settings checked.
    pub fn target(&self) -> Result<&'static sluice_sink::TargetEntry, String> {
        let entry = sluice_sink::find(crate::targets::all(), &self.target).map_err(|e| e.to_string())?;
        entry.validate(&self.settings).map_err(|e| redact_values(&e.to_string()))?;
        Ok(entry)
    }

    /// The static membership id, if any.
    pub fn instance_id(&self) -> Option<String> {
        match &self.instance_id {
            Some(id) if id.is_empty() => None,
            Some(id) => Some(id.clone()),
            None => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .or_else(|| std::env::var("HOSTNAME").ok())
                    .map(|h| h.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "localhost".into());
                Some(format!("{}@{host}", self.name))
            }
        }
    }

    /// The dead-letter topic name.
    pub fn dead_letter_topic(&self) -> String {
        self.dead_letter_topic.clone().unwrap_or_else(|| format!("{}.dlq", self.name))
    }

    fn validate(&self) -> Result<(), String> {
        self.target()?;
        if self.topics.is_empty() == self.topic_regex.is_none() {
            return Err("[sink] needs exactly one of `topics` and `topic_regex`".into());
        }
        if self.transaction_consistent && self.transaction_topic.is_none() {
            return Err("[sink] transaction_consistent = true needs `transaction_topic` (the source's `<prefix>.transaction`)".into());
        }
        Ok(())
    }
}

fn default_sink_name() -> String {
    "sluice-sink".into()
}

fn default_batch_max_events() -> usize {
    10_000
}

fn default_batch_max_ms() -> u64 {
    200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Base URL of the schema registry Sluice's encoders and decoders use, e.g.
    /// `http://127.0.0.1:8081`. Defaults to `http://<listen>` when `listen` is set.
    #[serde(default)]
    pub url: Option<String>,
    /// Serve Sluice's built-in registry on this address (`sluice registry`, and embedded in
    /// `sluice run`). Its storage is the `[kafka]` cluster.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// The compacted topic holding the built-in registry's schemas (default `_schemas`).
    #[serde(default = "default_registry_topic")]
    pub topic: String,
    /// How subjects are named: `topic_name` (default: `<topic>-key`/`<topic>-value`),
    /// `record_name` or `topic_record_name`.
    #[serde(default)]
    pub subject_name_strategy: sluice_avro::SubjectNameStrategy,
}

fn default_registry_topic() -> String {
    "_schemas".into()
}

impl RegistryConfig {
    /// The URL clients use: `url`, else the built-in server's `listen` address.
    pub fn client_url(&self) -> Option<String> {
        self.url.clone().or_else(|| self.listen.map(|a| format!("http://{a}")))
    }
}

impl Config {
    /// Read `path`, apply overrides from the process environment, validate.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.display().to_string(), reason: e.to_string() })?;
        Self::from_str_with_env(&text, &path.display().to_string(), std::env::vars())
    }

    /// Parse `text` and apply `SLUICE__…` overrides from `env`.
    pub fn from_str_with_env(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let parse_err =
            |reason: String| ConfigError::Parse { path: origin.to_owned(), reason: redact_values(&reason) };
        let mut tree: toml::Table = toml::from_str(text).map_err(|e| parse_err(e.message().to_owned()))?;
        let overrides: BTreeMap<String, String> =
            env.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        for (var, value) in overrides {
            apply_override(&mut tree, &var, &value)?;
        }
        let cfg: Self = toml::Value::Table(tree)
            .try_into()
            .map_err(|e: toml::de::Error| parse_err(e.message().to_owned()))?;
        if let Some(sink) = &cfg.sink {
            sink.validate().map_err(|reason| ConfigError::Parse { path: origin.to_owned(), reason })?;
        }
        Ok(cfg)
    }
}

fn apply_override(tree: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let env_err = |reason: &str| ConfigError::Env { var: var.to_owned(), reason: reason.to_owned() };
    let path: Vec<String> = var[ENV_PREFIX.len()..].split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(env_err("empty path segment; use SLUICE__SECTION__KEY"));
    }
    let (last, parents) = path.split_last().ok_or_else(|| env_err("no key"))?;
    let mut table = tree;
    for seg in parents {
        let entry = table.entry(seg.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| env_err("a parent of this key is not a table"))?;
    }
    let new = match table.get(last) {
        Some(toml::Value::String(_)) => toml::Value::String(value.to_owned()),
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(value.parse().map_err(|_| env_err("expected an integer"))?)
        }
        Some(toml::Value::Float(_)) => {
            toml::Value::Float(value.parse().map_err(|_| env_err("expected a number"))?)
        }
        Some(toml::Value::Boolean(_)) => {
            toml::Value::Boolean(value.parse().map_err(|_| env_err("expected true or false"))?)
        }
        Some(_) => return Err(env_err("only string, number and boolean keys can be overridden")),
        None => infer(value),
    };
    table.insert(last.clone(), new);
    Ok(())
}

/// Serde echoes offending values ("invalid type: string \"hunter2\", expected u16"); a value
/// may be a secret typed into the wrong key, so errors keep the key and the expectation only.
fn redact_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) =
        ["invalid type: ", "invalid value: "].iter().filter_map(|p| rest.find(p).map(|i| i + p.len())).min()
    {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match tail.find(", expected") {
            Some(j) => {
                out.push_str(tail[..j].split_whitespace().next().unwrap_or("value"));
                rest = &tail[j..];
            }
            None => {
                out.push_str("value");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn infer(value: &str) -> toml::Value {
    if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = value.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        [log]
        format = "json"
        [http]
        listen = "127.0.0.1:9600"
        [source]
        type = "postgres"
        topic_prefix = "app"
        [source.connection]
        host = "db"
        user = "sluice"
        password = "from-file"
        database = "app"
        [kafka]
        bootstrap_servers = "k:9092"
    "#;

    fn sink(body: &str) -> Result<Config, ConfigError> {
        let text = format!(
            "[sink]\ntopics = [\"t\"]\n{body}\n[sink.connection]\nhost = \"h\"\nuser = \"u\"\ndatabase = \"d\"\n"
        );
        Config::from_str_with_env(&text, "t", Vec::new())
    }

    #[test]
    fn sink_settings_belong_to_the_target_named_by_type() {
        let c = sink("type = \"postgres\"\ntable_pattern = \"r.{table}\"").unwrap();
        let s = c.sink.unwrap();
        assert_eq!(s.target().unwrap().name(), "postgres");
        assert!(s.settings.contains_key("table_pattern") && s.settings.contains_key("connection"));
        assert!(!s.settings.contains_key("topics"), "runtime keys stay with the runtime");
        assert_eq!(
            sink("type = \"mariadb\"\nunrepresentable_values = \"clamp\"")
                .unwrap()
                .sink
                .unwrap()
                .target()
                .unwrap()
                .name(),
            "mysql"
        );
        let e = sink("type = \"redis2\"").unwrap_err().to_string();
        assert!(e.contains("unknown sink type \"redis2\"") && e.contains("postgres, mysql"), "{e}");
        let e = sink("type = \"postgres\"\ntable_patern = \"x\"").unwrap_err().to_string();
        assert!(e.contains("table_patern"), "{e}");
        let e = sink("type = \"postgres\"\nunrepresentable_values = \"clamp\"").unwrap_err().to_string();
        assert!(e.contains("unrepresentable_values"), "a MariaDB-only key is refused for PostgreSQL: {e}");
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_and_applies_env_overrides() {
        let c = Config::from_str_with_env(
            SAMPLE,
            "t",
            env(&[
                ("SLUICE__SOURCE__CONNECTION__PASSWORD", "12345"),
                ("SLUICE__SOURCE__CONNECTION__PORT", "6543"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        let Some(SourceConfig::Postgres(pg)) = c.source else { panic!("postgres source") };
        assert_eq!(pg.connection.password.expose(), "12345");
        assert_eq!(pg.connection.port, 6543);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let bad = SAMPLE.replace("database = \"app\"", "database = \"app\"\ndatabse = \"x\"");
        let e = Config::from_str_with_env(&bad, "t", env(&[])).unwrap_err().to_string();
        assert!(e.contains("databse"), "{e}");
        let e = Config::from_str_with_env(SAMPLE, "t", env(&[("SLUICE__KAFKA__BOOTSTRAP", "x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bootstrap"), "{e}");
        let e = Config::from_str_with_env("[source]\ntype = \"oracle\"\n", "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("oracle"), "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_str_with_env(SAMPLE, "t", env(&[])).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("from-file"), "{dbg}");
        let e =
            Config::from_str_with_env(SAMPLE, "t", env(&[("SLUICE__SOURCE__CONNECTION__PORT", "secretish")]))
                .unwrap_err()
                .to_string();
        assert!(!e.contains("secretish"), "{e}");
    }

    /// Every `.toml` under `examples/`, subfolders (`examples/compose/`) included.
    #[test]
    fn example_configs_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut n = 0;
        let mut pending = vec![dir.clone()];
        let mut files = Vec::new();
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        for path in files {
            if path.extension().is_some_and(|e| e == "toml") {
                Config::from_str_with_env(
                    &std::fs::read_to_string(&path).unwrap(),
                    &path.display().to_string(),
                    env(&[]),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 6, "only {n} example configs under {}", dir.display());
    }
}
