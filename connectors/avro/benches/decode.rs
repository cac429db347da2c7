//! Decode cost per event for the 10-column row of `benches/encode.rs`: events encoded once
//! with Sluice's encoder (key + envelope, Confluent-framed), then decoded back into
//! `ChangeEvent`s by `EventDecoder` with its schemas cached — what a sink pays per consumed
//! record. apache-avro's generic reader (value only, into its `Value` tree) is measured on the
//! same bytes as a reference. Run: `cargo bench -p sluice-avro --bench decode`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{event, table};

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use sluice_avro::schema_gen::{EnvelopeOptions, SourceKind};
use sluice_avro::{Decoded, EventDecoder, EventEncoder, StaticSchemas, TableCodec};
use sluice_core::ChangeEvent;

fn main() {
    let table = Arc::new(table());
    let opts = EnvelopeOptions::new("shop", SourceKind::Postgres);
    let mut codec = TableCodec::new(table.clone(), &opts);
    codec.set_ids(Some(1), 2);
    let mut enc = EventEncoder::default();
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..1000)
        .map(|i| {
            enc.encode(&codec, &event(table.clone(), i)).unwrap();
            (enc.key.clone(), enc.value.clone())
        })
        .collect();
    let mut schemas = StaticSchemas::new();
    schemas.insert(1, codec.key_schema().unwrap().clone()).insert(2, codec.value_schema().clone());
    let mut decoder = EventDecoder::new(schemas);

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let rounds = 2000;
    let direct_ns = rt.block_on(async {
        // Warm up (fetches and compiles both schemas), and check the round trip once.
        for (i, (k, v)) in records.iter().enumerate() {
            let Decoded::Event(ev) = decoder.decode("shop.public.orders", Some(k), Some(v)).await.unwrap()
            else {
                panic!("not an event");
            };
            assert_eq!(ev.after, event(table.clone(), i as i64).after);
        }
        let start = Instant::now();
        for _ in 0..rounds {
            for (k, v) in &records {
                let d = decoder.decode("shop.public.orders", Some(black_box(k)), Some(black_box(v))).await;
                black_box(d.unwrap());
            }
        }
        start.elapsed().as_nanos() as f64 / (rounds * records.len()) as f64
    });
    println!("sluice EventDecoder (key + value, framed → ChangeEvent): {direct_ns:.0} ns/event");

    // Floor: cloning and dropping an already decoded event — the same allocations and frees
    // (row vector, strings, source block) with no decoding at all.
    let decoded: Vec<ChangeEvent> = rt.block_on(async {
        let mut out = Vec::new();
        for (k, v) in &records {
            if let Decoded::Event(ev) = decoder.decode("shop.public.orders", Some(k), Some(v)).await.unwrap()
            {
                out.push(ev);
            }
        }
        out
    });
    let start = Instant::now();
    for _ in 0..rounds {
        for ev in &decoded {
            black_box(black_box(ev).clone());
        }
    }
    let floor_ns = start.elapsed().as_nanos() as f64 / (rounds * decoded.len()) as f64;
    println!("floor: ChangeEvent clone + drop (same allocations, no decoding): {floor_ns:.0} ns/event");

    // Reference: apache-avro's generic reader into its Value tree (value only, no ChangeEvent).
    let schema = apache_avro::Schema::parse(codec.value_schema()).unwrap();
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema).build().unwrap();
    let body = &records[0].1[5..];
    let rounds_ref = 200_000;
    let start = Instant::now();
    for _ in 0..rounds_ref {
        black_box(reader.read_value(&mut black_box(body)).unwrap());
    }
    let ref_ns = start.elapsed().as_nanos() as f64 / f64::from(rounds_ref);
    println!(
        "apache-avro GenericDatumReader::read_value (value only, into a Value tree): {ref_ns:.0} ns/event"
    );
    println!("ratio: {:.1}x", ref_ns / direct_ns);
}
