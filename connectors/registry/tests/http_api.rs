//! Every endpoint of the registry over real HTTP, against a registry stored in a real Kafka
//! topic: the answers, the Confluent error codes, the content types.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Api, USER_BAD, USER_V1, USER_V2};
use serde_json::{json, Value};

fn code(answer: &(u16, Value)) -> i64 {
    Api::error_code(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_lookup_and_reads() {
    let registry = common::start(&common::unique_topic("reads")).await;
    let api = Api::new(registry.local_addr());

    assert_eq!(api.get("/").await, (200, json!({})));
    assert_eq!(api.get("/schemas/types").await, (200, json!(["AVRO"])));
    assert_eq!(api.get("/subjects").await, (200, json!([])));

    let id1 = api.register("users-value", USER_V1).await;
    // The same schema, formatted differently and with a doc: same id, no new version.
    let reformatted =
        USER_V1.replace(',', " ,\n ").replace(r#""name":"User""#, r#""name":"User","doc":"a person""#);
    assert_eq!(api.register("users-value", &reformatted).await, id1);
    assert_eq!(api.get("/subjects/users-value/versions").await, (200, json!([1])));
    // Ids are global: the same schema under another subject gets the same id.
    assert_eq!(api.register("other-value", USER_V1).await, id1);
    let id2 = api.register("users-value", USER_V2).await;
    assert_ne!(id2, id1);
    assert_eq!(api.get("/subjects/users-value/versions").await, (200, json!([1, 2])));
    assert_eq!(api.get("/subjects").await, (200, json!(["other-value", "users-value"])));

    let (status, latest) = api.get("/subjects/users-value/versions/latest").await;
    assert_eq!(status, 200);
    assert_eq!(latest, json!({"subject": "users-value", "version": 2, "id": id2, "schema": USER_V2}));
    assert!(latest.get("schemaType").is_none());
    let (_, v1) = api.get("/subjects/users-value/versions/1").await;
    assert_eq!(v1["id"], json!(id1));
    assert_eq!(v1["schema"], json!(USER_V1));
    let (status, raw) = api.get("/subjects/users-value/versions/1/schema").await;
    assert_eq!(status, 200);
    assert_eq!(raw, serde_json::from_str::<Value>(USER_V1).unwrap());

    assert_eq!(code(&api.get("/subjects/users-value/versions/0").await), 42202);
    assert_eq!(code(&api.get("/subjects/users-value/versions/abc").await), 42202);
    assert_eq!(code(&api.get("/subjects/users-value/versions/9").await), 40402);
    assert_eq!(code(&api.get("/subjects/nosuch/versions").await), 40401);
    assert_eq!(code(&api.get("/subjects/nosuch/versions/1").await), 40401);
    assert_eq!(code(&api.get("/subjects/nosuch/versions/latest").await), 40401);

    // Lookup.
    let (status, found) = api.post("/subjects/users-value", json!({ "schema": USER_V1 })).await;
    assert_eq!(status, 200);
    assert_eq!(found, json!({"subject": "users-value", "version": 1, "id": id1, "schema": USER_V1}));
    assert_eq!(code(&api.post("/subjects/users-value", json!({ "schema": USER_BAD })).await), 40403);
    assert_eq!(code(&api.post("/subjects/nosuch", json!({ "schema": USER_V1 })).await), 40401);

    // By id.
    assert_eq!(api.get(&format!("/schemas/ids/{id1}")).await, (200, json!({ "schema": USER_V1 })));
    assert_eq!(code(&api.get("/schemas/ids/999999").await), 40403);
    assert_eq!(code(&api.get("/schemas/ids/notanumber").await), 404);
    assert_eq!(
        api.get(&format!("/schemas/ids/{id1}/versions")).await,
        (200, json!([{"subject": "other-value", "version": 1}, {"subject": "users-value", "version": 1}]))
    );
    assert_eq!(
        api.get(&format!("/schemas/ids/{id1}/subjects")).await,
        (200, json!(["other-value", "users-value"]))
    );
    assert_eq!(code(&api.get("/schemas/ids/999999/subjects").await), 40403);
    assert_eq!(code(&api.get("/schemas/ids/999999/versions").await), 40403);

    // Invalid schemas and bodies.
    assert_eq!(
        code(&api.post("/subjects/x/versions", json!({ "schema": "{\"type\":\"record\"" })).await),
        42201
    );
    assert_eq!(
        code(
            &api.post("/subjects/x/versions", json!({ "schema": "\"string\"", "schemaType": "PROTOBUF" }))
                .await
        ),
        42201
    );
    assert_eq!(
        code(
            &api.post(
                "/subjects/x/versions",
                json!({ "schema": "\"string\"", "references": [{"name": "r", "subject": "s", "version": 1}] })
            )
            .await
        ),
        42201
    );
    assert_eq!(code(&api.post("/subjects/x/versions", json!([1])).await), 400);
    assert_eq!(code(&api.get("/subjects/x/versions").await), 40401);

    // Paging and prefixes, as the Python client sends them.
    assert_eq!(
        api.get("/subjects?subjectPrefix=users&deleted=False&offset=0&limit=-1").await,
        (200, json!(["users-value"]))
    );
    assert_eq!(api.get("/subjects/users-value/versions?offset=1&limit=1").await, (200, json!([2])));

    registry.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatibility_and_config() {
    let registry = common::start(&common::unique_topic("compat")).await;
    let api = Api::new(registry.local_addr());

    assert_eq!(api.get("/config").await, (200, json!({"compatibilityLevel": "BACKWARD"})));
    // Nothing registered yet: anything is compatible with "latest".
    assert_eq!(
        api.post("/compatibility/subjects/users-value/versions/latest", json!({ "schema": USER_BAD })).await,
        (200, json!({"is_compatible": true}))
    );
    assert_eq!(
        code(&api.post("/compatibility/subjects/users-value/versions/1", json!({ "schema": USER_V1 })).await),
        40401
    );
    api.register("users-value", USER_V1).await;
    assert_eq!(
        api.post("/compatibility/subjects/users-value/versions/latest", json!({ "schema": USER_V2 })).await,
        (200, json!({"is_compatible": true}))
    );
    assert_eq!(
        api.post("/compatibility/subjects/users-value/versions/latest", json!({ "schema": USER_BAD })).await,
        (200, json!({"is_compatible": false}))
    );
    let (status, verbose) = api
        .post("/compatibility/subjects/users-value/versions/1?verbose=true", json!({ "schema": USER_BAD }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(verbose["is_compatible"], json!(false));
    let messages = verbose["messages"].as_array().expect("messages");
    assert!(messages.iter().any(|m| m.as_str().unwrap_or_default().contains("phone")), "{verbose}");
    assert_eq!(
        api.post("/compatibility/subjects/users-value/versions", json!({ "schema": USER_V2 })).await,
        (200, json!({"is_compatible": true}))
    );
    assert_eq!(
        code(&api.post("/compatibility/subjects/users-value/versions/7", json!({ "schema": USER_V2 })).await),
        40402
    );
    assert_eq!(
        code(
            &api.post("/compatibility/subjects/users-value/versions/zero", json!({ "schema": USER_V2 }))
                .await
        ),
        42202
    );

    // An incompatible registration is a 409 and stores nothing.
    let refused = api.post("/subjects/users-value/versions", json!({ "schema": USER_BAD })).await;
    assert_eq!(code(&refused), 409);
    assert_eq!(api.get("/subjects/users-value/versions").await, (200, json!([1])));

    // Subject-level config.
    assert_eq!(code(&api.get("/config/users-value").await), 40408);
    assert_eq!(
        api.get("/config/users-value?defaultToGlobal=true").await,
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_eq!(
        api.put("/config/users-value", json!({"compatibility": "NONE"})).await,
        (200, json!({"compatibility": "NONE"}))
    );
    assert_eq!(api.get("/config/users-value").await, (200, json!({"compatibilityLevel": "NONE"})));
    assert_eq!(
        api.post("/compatibility/subjects/users-value/versions/latest", json!({ "schema": USER_BAD })).await,
        (200, json!({"is_compatible": true}))
    );
    assert_eq!(code(&api.put("/config/users-value", json!({"compatibility": "SIDEWAYS"})).await), 42203);
    assert_eq!(api.delete("/config/users-value").await, (200, json!({"compatibilityLevel": "NONE"})));
    assert_eq!(code(&api.delete("/config/users-value").await), 40401);
    assert_eq!(code(&api.get("/config/users-value").await), 40408);

    // Global config.
    assert_eq!(code(&api.put("/config", json!({"compatibility": "bogus"})).await), 42203);
    assert_eq!(
        api.put("/config", json!({"compatibility": "full_transitive"})).await,
        (200, json!({"compatibility": "FULL_TRANSITIVE"}))
    );
    assert_eq!(api.get("/config").await, (200, json!({"compatibilityLevel": "FULL_TRANSITIVE"})));
    assert_eq!(
        api.get("/config/users-value?defaultToGlobal=true").await,
        (200, json!({"compatibilityLevel": "FULL_TRANSITIVE"}))
    );
    assert_eq!(api.delete("/config").await, (200, json!({"compatibilityLevel": "FULL_TRANSITIVE"})));
    assert_eq!(api.get("/config").await, (200, json!({"compatibilityLevel": "BACKWARD"})));

    // Attributes readers act on make a different schema: a Debezium JSON column is not a
    // plain string, though both have the same Parsing Canonical Form.
    let plain = api.register("json-value", r#""string""#).await;
    let tagged = r#"{"type":"string","connect.version":1,"connect.name":"io.debezium.data.Json"}"#;
    let tagged_id = api.register("json-value", tagged).await;
    assert_ne!(plain, tagged_id);
    assert_eq!(api.get("/subjects/json-value/versions").await, (200, json!([1, 2])));
    assert_eq!(api.get(&format!("/schemas/ids/{tagged_id}")).await, (200, json!({ "schema": tagged })));

    registry.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_and_permanent_deletes() {
    let registry = common::start(&common::unique_topic("deletes")).await;
    let api = Api::new(registry.local_addr());

    let id1 = api.register("users-value", USER_V1).await;
    let id2 = api.register("users-value", USER_V2).await;
    api.register("other-value", USER_V1).await;
    api.put("/config/users-value", json!({"compatibility": "FULL"})).await;

    // Permanent deletes need a soft delete first.
    assert_eq!(code(&api.delete("/subjects/users-value/versions/1?permanent=true").await), 40407);
    assert_eq!(code(&api.delete("/subjects/users-value?permanent=true").await), 40405);
    assert_eq!(code(&api.delete("/subjects/nosuch").await), 40401);
    assert_eq!(code(&api.delete("/subjects/users-value/versions/9").await), 40402);
    assert_eq!(code(&api.delete("/subjects/users-value/versions/x").await), 42202);

    // Soft-delete version 2.
    assert_eq!(api.delete("/subjects/users-value/versions/2").await, (200, json!(2)));
    assert_eq!(code(&api.delete("/subjects/users-value/versions/2").await), 40406);
    assert_eq!(api.get("/subjects/users-value/versions").await, (200, json!([1])));
    assert_eq!(api.get("/subjects/users-value/versions?deleted=true").await, (200, json!([1, 2])));
    assert_eq!(code(&api.get("/subjects/users-value/versions/2").await), 40402);
    let (status, v2) = api.get("/subjects/users-value/versions/2?deleted=true").await;
    assert_eq!((status, v2["id"].clone()), (200, json!(id2)));
    assert_eq!(api.get("/subjects/users-value/versions/latest").await.1["version"], json!(1));
    // A soft-deleted schema still resolves by id; it is listed only with deleted=true.
    assert_eq!(api.get(&format!("/schemas/ids/{id2}")).await.0, 200);
    assert_eq!(api.get(&format!("/schemas/ids/{id2}/versions")).await, (200, json!([])));
    assert_eq!(
        api.get(&format!("/schemas/ids/{id2}/versions?deleted=true")).await,
        (200, json!([{"subject": "users-value", "version": 2}]))
    );
    assert_eq!(code(&api.post("/subjects/users-value", json!({ "schema": USER_V2 })).await), 40403);
    assert_eq!(
        api.post("/subjects/users-value?deleted=true", json!({ "schema": USER_V2 })).await.1["version"],
        json!(2)
    );

    // Hard-delete version 2: its id is gone (no other subject uses it).
    assert_eq!(api.delete("/subjects/users-value/versions/2?permanent=true").await, (200, json!(2)));
    assert_eq!(api.get("/subjects/users-value/versions?deleted=true").await, (200, json!([1])));
    assert_eq!(code(&api.get(&format!("/schemas/ids/{id2}")).await), 40403);

    // Soft-delete the subject: its versions and its config go; the id stays (other-value).
    assert_eq!(api.delete("/subjects/users-value").await, (200, json!([1])));
    assert_eq!(code(&api.delete("/subjects/users-value").await), 40404);
    assert_eq!(code(&api.get("/config/users-value").await), 40408);
    assert_eq!(code(&api.get("/subjects/users-value/versions").await), 40401);
    assert_eq!(api.get("/subjects").await, (200, json!(["other-value"])));
    assert_eq!(api.get("/subjects?deleted=true").await, (200, json!(["other-value", "users-value"])));
    assert_eq!(api.get("/subjects?deleted_only=true").await, (200, json!(["users-value"])));
    assert_eq!(api.delete("/subjects/users-value?permanent=true").await, (200, json!([1])));
    assert_eq!(api.get("/subjects?deleted=true").await, (200, json!(["other-value"])));
    assert_eq!(api.get(&format!("/schemas/ids/{id1}")).await.0, 200);

    // Registering again starts at version 1 and never reuses the hard-deleted id.
    let id3 = api.register("users-value", USER_V2).await;
    assert!(id3 > id2, "id {id3} reused or lower than {id2}");
    assert_eq!(api.get("/subjects/users-value/versions").await, (200, json!([1])));

    registry.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_types_and_unknown_routes() {
    let registry = common::start(&common::unique_topic("http")).await;
    let api = Api::new(registry.local_addr());
    let client = reqwest::Client::new();
    let url = format!("{}/subjects/ct-value/versions", api.base);
    let body = json!({ "schema": "\"string\"" }).to_string();

    for accepted in [
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json; charset=utf-8",
    ] {
        let response =
            client.post(&url).header("content-type", accepted).body(body.clone()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{accepted}");
        assert_eq!(response.headers()["content-type"], "application/vnd.schemaregistry.v1+json");
    }
    let refused =
        client.post(&url).header("content-type", "text/plain").body(body.clone()).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 415);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error_code"], json!(415));

    assert_eq!(code(&api.get("/no/such/endpoint").await), 404);
    let patch = client.patch(format!("{}/config", api.base)).send().await.unwrap();
    assert_eq!(patch.status().as_u16(), 405);
    let patch: Value = patch.json().await.unwrap();
    assert_eq!(patch["error_code"], json!(405));

    registry.shutdown().await.unwrap();
}
