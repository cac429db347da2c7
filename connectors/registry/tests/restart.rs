//! Durability and sharing: a registry restarted on the same topic, or a second instance on
//! it, sees the same ids, versions, configs and deletions; refused schemas stay refused; two
//! live instances writing at once never hand out the same id twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Api, USER_BAD, USER_V1, USER_V2};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_registry_sees_the_same_ids_and_versions() {
    let topic = common::unique_topic("restart");
    let first = common::start(&topic).await;
    let api = Api::new(first.local_addr());
    let id1 = api.register("users-value", USER_V1).await;
    let id2 = api.register("users-value", USER_V2).await;
    let shared = api.register("orders-value", USER_V1).await;
    assert_eq!(shared, id1);
    let temp = api.register("temp-value", r#"{"type":"enum","name":"E","symbols":["A"]}"#).await;
    api.put("/config/orders-value", json!({"compatibility": "NONE"})).await;
    // Refused under BACKWARD: 409 and nothing stored.
    let refused = api.post("/subjects/users-value/versions", json!({ "schema": USER_BAD })).await;
    assert_eq!(Api::error_code(&refused), 409);
    assert_eq!(api.get("/subjects/users-value/versions").await, (200, json!([1, 2])));
    // Hard-delete the subject holding the highest id so far.
    api.delete("/subjects/temp-value").await;
    api.delete("/subjects/temp-value?permanent=true").await;
    let before = snapshot(&api, &[id1, id2, temp]).await;
    first.shutdown().await.unwrap();

    // A second instance on another port, same topic.
    let second = common::start(&topic).await;
    let api2 = Api::new(second.local_addr());
    assert_ne!(api2.base, api.base);
    assert_eq!(snapshot(&api2, &[id1, id2, temp]).await, before);
    assert_eq!(api2.get("/subjects/users-value/versions").await, (200, json!([1, 2])));
    assert_eq!(
        Api::error_code(&api2.post("/subjects/users-value", json!({ "schema": USER_BAD })).await),
        40403
    );
    assert_eq!(api2.get("/config/orders-value").await, (200, json!({"compatibilityLevel": "NONE"})));
    // Re-registering answers the stored ids; a new schema gets an id never used before.
    assert_eq!(api2.register("users-value", USER_V2).await, id2);
    assert_eq!(api2.register("orders-value", USER_V1).await, id1);
    let fresh = api2.register("fresh-value", r#""string""#).await;
    assert!(fresh > temp, "id {fresh} reuses one at or below {temp}");
    // Still refused after the restart.
    let refused = api2.post("/subjects/users-value/versions", json!({ "schema": USER_BAD })).await;
    assert_eq!(Api::error_code(&refused), 409);
    assert_eq!(api2.get("/subjects/users-value/versions").await, (200, json!([1, 2])));
    second.shutdown().await.unwrap();
}

/// Everything a client could observe about these ids and all subjects.
async fn snapshot(api: &Api, ids: &[i64]) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    let (_, subjects) = api.get("/subjects?deleted=true").await;
    seen.insert("subjects".to_owned(), subjects.clone());
    for subject in subjects.as_array().unwrap() {
        let subject = subject.as_str().unwrap();
        let (_, versions) = api.get(&format!("/subjects/{subject}/versions?deleted=true")).await;
        for version in versions.as_array().unwrap() {
            let path = format!("/subjects/{subject}/versions/{version}?deleted=true");
            seen.insert(path.clone(), api.get(&path).await.1);
        }
        seen.insert(subject.to_owned(), versions);
    }
    for id in ids {
        let path = format!("/schemas/ids/{id}");
        seen.insert(path.clone(), api.get(&path).await.1);
    }
    seen.insert("config".to_owned(), api.get("/config").await.1);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_live_instances_writing_at_once_share_one_id_space() {
    let topic = common::unique_topic("shared");
    let a = common::start(&topic).await;
    let b = common::start(&topic).await;
    let apis = [Api::new(a.local_addr()), Api::new(b.local_addr())];

    // Interleaved, concurrent registrations of distinct schemas through both instances.
    let schemas: Vec<String> = (0..12)
        .map(|i| format!(r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":"int"}}]}}"#))
        .collect();
    let mut tasks = Vec::new();
    for (i, schema) in schemas.iter().enumerate() {
        let api = Api::new(if i % 2 == 0 { a.local_addr() } else { b.local_addr() });
        let schema = schema.clone();
        tasks.push(tokio::spawn(async move { api.register(&format!("s{i}-value"), &schema).await }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was handed out twice: {ids:?}");

    // Both instances agree on every registration (a write on each catches it up first).
    for api in &apis {
        api.put("/config", json!({"compatibility": "BACKWARD"})).await;
        for (i, id) in ids.iter().enumerate() {
            let (status, body) = api.get(&format!("/subjects/s{i}-value/versions/latest")).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["id"], json!(id));
            assert_eq!(body["version"], json!(1));
        }
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_fails_clearly_without_a_broker() {
    // Nothing listens on port 1: the registry must not serve, and must say why.
    let mut config = sluice_registry::RegistryConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1:1");
    config.timeout = std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = sluice_registry::start(config).await.unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(err.to_string().contains("is the broker up?"), "{err}");
    assert!(err.is_transient(), "{err:?}");
}

/// The failure behind "an id was handed out twice": every instance writes with one
/// transactional id, hence one producer id, and a fenced instance's transaction that already
/// held a record is aborted. A broker that keeps listing that aborted transaction in later
/// `read_committed` fetches (noida lists every aborted transaction of the partition in every
/// fetch) makes the reader's librdkafka drop every later committed record of that producer id,
/// while its position still moves past them. The registry used to take "position past my
/// record" for "my record applied", answered ids its state never held, and planned every later
/// registration from the same stale maximum id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_committed_after_an_aborted_transaction_are_applied_before_answering() {
    let topic = common::unique_topic("aborted");
    let registry = common::start(&topic).await;
    let api = Api::new(registry.local_addr());
    let schema =
        |i: usize| format!(r#"{{"type":"record","name":"A{i}","fields":[{{"name":"f","type":"int"}}]}}"#);
    let first = api.register("before-value", &schema(0)).await;

    // Another writer on the shared transactional id stores a registration in a transaction and
    // is fenced by a third, which aborts it: an aborted transaction with a record in the topic.
    abort_a_transaction_with_a_record(&topic).await;
    // Let the registry's reader go past the abort marker before it writes again.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let mut ids = vec![first];
    for i in 1..=4 {
        ids.push(api.register(&format!("after{i}-value"), &schema(i)).await);
    }
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was handed out twice: {ids:?}");
    // Each answer is backed by the state: the id resolves to the schema registered with it.
    for (i, id) in ids.iter().enumerate() {
        let (status, body) = api.get(&format!("/schemas/ids/{id}")).await;
        assert_eq!(status, 200, "id {id}: {body}");
        assert!(body["schema"].as_str().unwrap().contains(&format!(r#""name":"A{i}""#)), "id {id}: {body}");
    }
    // The aborted registration is invisible.
    assert_eq!(Api::error_code(&api.get("/subjects/ghost-value/versions").await), 40401);
    registry.shutdown().await.unwrap();

    // A fresh instance reading the topic from the start agrees.
    let restarted = common::start(&topic).await;
    let api = Api::new(restarted.local_addr());
    for (i, id) in ids.iter().enumerate() {
        let subject = if i == 0 { "before-value".to_owned() } else { format!("after{i}-value") };
        let (status, body) = api.get(&format!("/subjects/{subject}/versions/latest")).await;
        assert_eq!(status, 200, "{subject}: {body}");
        assert_eq!(body["id"], json!(id), "{subject}: {body}");
    }
    restarted.shutdown().await.unwrap();
}

/// Produces a registration (subject `ghost-value`, id 1000) in a transaction under the
/// registry's transactional id, then fences that producer with another one, which aborts it.
async fn abort_a_transaction_with_a_record(topic: &str) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    use std::time::Duration;

    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", common::testbed().bootstrap)
        .set("transactional.id", format!("sluice-registry-{topic}"))
        .set("enable.idempotence", "true");
    let timeout = Duration::from_secs(20);
    let fenced: FutureProducer = config.create().unwrap();
    let p = fenced.clone();
    tokio::task::spawn_blocking(move || p.init_transactions(timeout)).await.unwrap().unwrap();
    fenced.begin_transaction().unwrap();
    let key = br#"{"keytype":"SCHEMA","subject":"ghost-value","version":1,"magic":1}"#;
    let value = br#"{"subject":"ghost-value","version":1,"id":1000,"schema":"\"string\"","deleted":false}"#;
    let record = FutureRecord::<[u8], [u8]>::to(topic).partition(0).key(&key[..]).payload(&value[..]);
    fenced.send(record, timeout).await.map_err(|(e, _)| e).unwrap();
    let fencing: FutureProducer = config.create().unwrap();
    let p = fencing.clone();
    tokio::task::spawn_blocking(move || p.init_transactions(timeout)).await.unwrap().unwrap();
    tokio::task::spawn_blocking(move || drop((fenced, fencing))).await.unwrap();
}
