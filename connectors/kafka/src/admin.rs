//! Topic administration: create change topics with the configured partition count before the
//! first record is produced. A topic that already exists is fine (its settings are left as they
//! are); any other refusal is an error naming the topic.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::error::KafkaError;

pub struct TopicAdmin {
    admin: AdminClient<DefaultClientContext>,
}

impl TopicAdmin {
    pub fn new(cfg: &KafkaConfig) -> Result<Self, KafkaError> {
        let admin = cfg.client_config().create().map_err(|e| KafkaError::Config(e.to_string()))?;
        Ok(Self { admin })
    }

    /// Create `topic` with `partitions` partitions and `config` entries unless it exists.
    pub async fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
        config: &[(&str, &str)],
    ) -> Result<(), KafkaError> {
        let mut nt = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
        for (k, v) in config {
            nt = nt.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = self
            .admin
            .create_topics([&nt], &opts)
            .await
            .map_err(|e| KafkaError::client("create topic", &e))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(KafkaError::Client {
                        context: "create topic",
                        reason: format!("topic {name}: {code}"),
                        kind: sluice_core::ErrorKind::Fatal,
                    })
                }
            }
        }
        Ok(())
    }
}
