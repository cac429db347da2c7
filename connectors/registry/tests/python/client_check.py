"""Drives Sluice's schema registry with confluent-kafka's own SchemaRegistryClient.

Usage: client_check.py REGISTRY_URL

Each check is what a user of the stock client would rely on: register, fetch by id, latest
and numbered versions, lookup, compatibility tests, configs, soft and permanent deletes, the
Confluent error codes the client surfaces as SchemaRegistryError.error_code, and an Avro
round trip through AvroSerializer/AvroDeserializer. Prints one line per check and a closing
"client_check: N passed, M failed"; exits non-zero if anything failed.
"""

import json
import sys
import traceback

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

URL = sys.argv[1]
SUBJECT = "py-value"

V1 = json.dumps({
    "type": "record", "name": "Order", "namespace": "com.example",
    "fields": [{"name": "id", "type": "long"}],
})
V2 = json.dumps({
    "type": "record", "name": "Order", "namespace": "com.example",
    "fields": [{"name": "id", "type": "long"},
               {"name": "note", "type": "string", "default": ""}],
})
# A new field without a default: not BACKWARD compatible.
BAD = json.dumps({
    "type": "record", "name": "Order", "namespace": "com.example",
    "fields": [{"name": "id", "type": "long"}, {"name": "qty", "type": "int"}],
})

passed = 0
failed = 0


def fresh():
    """A client with empty caches, so each answer comes from the server."""
    return SchemaRegistryClient({"url": URL})


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}")
    except Exception:  # noqa: BLE001 - report every failure and go on
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc(file=sys.stdout)


def expect(actual, wanted):
    assert actual == wanted, f"got {actual!r}, wanted {wanted!r}"


def expect_error(fn, error_code, http_status):
    try:
        result = fn()
    except SchemaRegistryError as e:
        expect((e.error_code, e.http_status_code), (error_code, http_status))
        return
    raise AssertionError(f"no error, got {result!r}; wanted {error_code}")


ids = {}


def register():
    c = fresh()
    ids["v1"] = c.register_schema(SUBJECT, Schema(V1, "AVRO"))
    # Registering again, from another client, answers the same id.
    expect(fresh().register_schema(SUBJECT, Schema(V1, "AVRO")), ids["v1"])
    ids["v2"] = c.register_schema(SUBJECT, Schema(V2, "AVRO"))
    assert ids["v2"] != ids["v1"]
    # Same schema under another subject: same global id.
    expect(c.register_schema("py-other-value", Schema(V1, "AVRO")), ids["v1"])


def get_by_id():
    schema = fresh().get_schema(ids["v1"])
    expect(json.loads(schema.schema_str), json.loads(V1))
    expect(schema.schema_type, "AVRO")
    expect_error(lambda: fresh().get_schema(987654), 40403, 404)


def latest_and_versions():
    c = fresh()
    latest = c.get_latest_version(SUBJECT)
    expect((latest.subject, latest.version, latest.schema_id), (SUBJECT, 2, ids["v2"]))
    expect(json.loads(latest.schema.schema_str), json.loads(V2))
    first = c.get_version(SUBJECT, 1)
    expect((first.version, first.schema_id), (1, ids["v1"]))
    expect(c.get_versions(SUBJECT), [1, 2])
    expect_error(lambda: fresh().get_version(SUBJECT, 9), 40402, 404)
    expect_error(lambda: fresh().get_latest_version("py-nosuch"), 40401, 404)
    expect(sorted(c.get_subjects()), ["py-other-value", SUBJECT])
    expect(c.get_schema_types(), ["AVRO"])
    expect(sorted(c.get_subjects_by_schema_id(ids["v1"])), ["py-other-value", SUBJECT])
    pairs = sorted((v.subject, v.version) for v in c.get_schema_versions(ids["v1"]))
    expect(pairs, [("py-other-value", 1), (SUBJECT, 1)])


def lookup():
    found = fresh().lookup_schema(SUBJECT, Schema(V1, "AVRO"))
    expect((found.subject, found.version, found.schema_id), (SUBJECT, 1, ids["v1"]))
    expect_error(lambda: fresh().lookup_schema(SUBJECT, Schema(BAD, "AVRO")), 40403, 404)
    expect_error(lambda: fresh().lookup_schema("py-nosuch", Schema(V1, "AVRO")), 40401, 404)


def compatibility():
    c = fresh()
    expect(c.test_compatibility(SUBJECT, Schema(V2, "AVRO")), True)
    expect(c.test_compatibility(SUBJECT, Schema(BAD, "AVRO")), False)
    expect(c.test_compatibility(SUBJECT, Schema(BAD, "AVRO"), version=1, verbose=True), False)
    expect(c.test_compatibility_all_versions(SUBJECT, Schema(BAD, "AVRO")), False)
    expect_error(lambda: c.test_compatibility(SUBJECT, Schema(V2, "AVRO"), version=7), 40402, 404)


def incompatible_refused():
    expect_error(lambda: fresh().register_schema(SUBJECT, Schema(BAD, "AVRO")), 409, 409)
    expect(fresh().get_versions(SUBJECT), [1, 2])


def invalid_schema():
    expect_error(lambda: fresh().register_schema(SUBJECT, Schema('{"type": "record"', "AVRO")),
                 42201, 422)
    expect_error(lambda: fresh().register_schema(SUBJECT, Schema('{"type":"object"}', "JSON")),
                 42201, 422)


def config():
    c = fresh()
    expect(c.get_compatibility(), "BACKWARD")
    expect_error(lambda: c.get_compatibility(SUBJECT), 40408, 404)
    c.set_compatibility(SUBJECT, "NONE")
    expect(c.get_compatibility(SUBJECT), "NONE")
    expect(c.test_compatibility(SUBJECT, Schema(BAD, "AVRO")), True)
    expect_error(lambda: c.set_compatibility(SUBJECT, "SIDEWAYS"), 42203, 422)
    from confluent_kafka.schema_registry.schema_registry_client import (
        ConfigCompatibilityLevel, ServerConfig)
    c.set_config(SUBJECT, ServerConfig(compatibility=ConfigCompatibilityLevel.FULL))
    expect(c.get_config(SUBJECT).compatibility_level, ConfigCompatibilityLevel.FULL)
    deleted = c.delete_config(SUBJECT)
    expect(deleted.compatibility_level, ConfigCompatibilityLevel.FULL)
    expect_error(lambda: c.get_config(SUBJECT), 40408, 404)
    c.set_compatibility(level="FORWARD")
    expect(c.get_compatibility(), "FORWARD")
    c.set_compatibility(level="BACKWARD")


def deletes():
    c = fresh()
    expect_error(lambda: c.delete_version(SUBJECT, 2, permanent=True), 40407, 404)
    expect_error(lambda: c.delete_subject(SUBJECT, permanent=True), 40405, 404)
    expect(c.delete_version(SUBJECT, 2), 2)
    expect_error(lambda: fresh().delete_version(SUBJECT, 2), 40406, 404)
    expect(fresh().get_versions(SUBJECT), [1])
    expect(fresh().get_versions(SUBJECT, deleted=True), [1, 2])
    expect(fresh().get_version(SUBJECT, 2, deleted=True).schema_id, ids["v2"])
    expect_error(lambda: fresh().get_version(SUBJECT, 2), 40402, 404)
    expect(fresh().delete_version(SUBJECT, 2, permanent=True), 2)
    expect_error(lambda: fresh().get_schema(ids["v2"]), 40403, 404)
    expect(fresh().delete_subject(SUBJECT), [1])
    expect_error(lambda: fresh().delete_subject(SUBJECT), 40404, 404)
    expect(fresh().get_subjects(), ["py-other-value"])
    expect(sorted(fresh().get_subjects(deleted=True)), ["py-other-value", SUBJECT])
    expect(fresh().delete_subject(SUBJECT, permanent=True), [1])
    expect_error(lambda: fresh().get_versions(SUBJECT, deleted=True), 40401, 404)
    # The id is still used by the other subject.
    expect(json.loads(fresh().get_schema(ids["v1"]).schema_str), json.loads(V1))


def avro_round_trip():
    schema = json.dumps({
        "type": "record", "name": "Payment", "namespace": "com.example",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                        "precision": 10, "scale": 2}},
            {"name": "memo", "type": ["null", "string"], "default": None},
        ],
    })
    ctx = SerializationContext("payments", MessageField.VALUE)
    serializer = AvroSerializer(fresh(), schema)
    from decimal import Decimal
    value = {"id": 7, "amount": Decimal("12.34"), "memo": "hi"}
    data = serializer(value, ctx)
    expect(data[0], 0)  # Confluent wire format: magic byte, then the 4-byte id
    schema_id = int.from_bytes(data[1:5], "big")
    expect(fresh().get_latest_version("payments-value").schema_id, schema_id)
    expect(AvroDeserializer(fresh())(data, ctx), value)


for name, fn in [
    ("register", register),
    ("get schema by id", get_by_id),
    ("latest, numbered versions, listings", latest_and_versions),
    ("lookup", lookup),
    ("compatibility tests", compatibility),
    ("incompatible registration refused", incompatible_refused),
    ("invalid schemas", invalid_schema),
    ("compatibility config", config),
    ("soft and permanent deletes", deletes),
    ("avro serializer round trip", avro_round_trip),
]:
    check(name, fn)

print(f"client_check: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
