//! Task pipelines: the source half (source → Avro → broker, acknowledging positions) and, in
//! later modules, the sink half (broker → decoder → target, committing offsets).

pub mod outlet;
pub mod publish;
