//! Kafka for Sluice: client settings, broker preflight, and (in later modules) the producer that
//! turns delivery acknowledgements into acknowledgeable source positions and the consumer that
//! commits offsets only after the sink made writes durable.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod error;
pub mod preflight;
pub mod producer;
pub mod state;

pub use config::{KafkaConfig, ValueFormat};
pub use consumer::{ConsumedRecord, ConsumerOptions, SinkConsumer, Subscription};
pub use dlq::{DeadLetterProducer, FailureClass};
pub use error::KafkaError;
pub use producer::{EventProducer, ProducerOptions};
