//! Encode cost per event for a 10-column row: Sluice's direct encoder (key + envelope, with the
//! Confluent header) against apache-avro's generic `Value` writer for the same envelope
//! schema, as a reference. Run: `cargo bench -p sluice-avro --bench encode`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{event, table};

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use sluice_avro::schema_gen::{EnvelopeOptions, SourceKind};
use sluice_avro::{EventEncoder, TableCodec};
use sluice_core::ChangeEvent;

fn main() {
    let table = Arc::new(table());
    let opts = EnvelopeOptions::new("shop", SourceKind::Postgres);
    let mut codec = TableCodec::new(table.clone(), &opts);
    codec.set_ids(Some(1), 2);
    let events: Vec<ChangeEvent> = (0..1000).map(|i| event(table.clone(), i)).collect();
    let mut enc = EventEncoder::default();

    let rounds = 2000;
    // Warm up.
    for ev in &events {
        enc.encode(&codec, ev).unwrap();
    }
    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..rounds {
        for ev in &events {
            black_box(enc.encode(&codec, black_box(ev)).unwrap());
            bytes += enc.key.len() + enc.value.len();
        }
    }
    let n = (rounds * events.len()) as f64;
    let direct_ns = start.elapsed().as_nanos() as f64 / n;
    println!(
        "sluice direct encoder (key + value, framed): {direct_ns:.0} ns/event, {:.0} bytes/event",
        bytes as f64 / n
    );

    // Reference: apache-avro's generic writer fed a Value tree decoded from our own bytes.
    let schema = apache_avro::Schema::parse(codec.value_schema()).unwrap();
    let mut body = Vec::new();
    codec.write_envelope(&events[0], &mut body).unwrap();
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema).build().unwrap();
    let value = reader.read_value(&mut &body[..]).unwrap();
    let rounds_ref = 200_000;
    let start = Instant::now();
    for _ in 0..rounds_ref {
        #[allow(deprecated)]
        let out = apache_avro::to_avro_datum(&schema, black_box(value.clone())).unwrap();
        black_box(out);
    }
    let ref_ns = start.elapsed().as_nanos() as f64 / f64::from(rounds_ref);
    println!("apache-avro to_avro_datum (value only, Value tree prebuilt): {ref_ns:.0} ns/event");
    println!("ratio: {:.1}x", ref_ns / direct_ns);
}
