"""Consume a topic from the beginning with confluent-kafka and decode keys and values with its
AvroDeserializer against a schema registry; print one JSON object per record.

Usage: decode_topic.py BOOTSTRAP REGISTRY_URL TOPIC COUNT

Logical-type values are printed in a form the Rust test compares exactly: Decimal as
{"decimal": "<text>"}, bytes as {"hex": "..."}, datetimes/dates/times as ISO strings, UUID as
its string. Each line also carries the schema id from the record's wire header.
"""
import datetime
import decimal
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(v):
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


def main():
    bootstrap, registry, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = SchemaRegistryClient({"url": registry})
    key_de = AvroDeserializer(client)
    value_de = AvroDeserializer(client)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"decode-{topic}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    # Subscribe only once the topic exists: a consumer that subscribed earlier would not notice
    # it until its next metadata refresh (minutes).
    for _ in range(600):
        md = consumer.list_topics(timeout=5)
        if topic in md.topics and not md.topics[topic].error:
            break
        time.sleep(0.1)
    consumer.subscribe([topic])
    got = 0
    idle = 0
    while got < count and idle < 60:
        msg = consumer.poll(1.0)
        if msg is None:
            idle += 1
            continue
        if msg.error():
            # The topic may not exist yet: the source creates it with its first event.
            if msg.error().code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                idle += 1
                continue
            raise SystemExit(f"consume error: {msg.error()}")
        key = key_de(msg.key(), SerializationContext(topic, MessageField.KEY)) if msg.key() else None
        raw = msg.value()
        value = value_de(raw, SerializationContext(topic, MessageField.VALUE)) if raw else None
        schema_id = int.from_bytes(raw[1:5], "big") if raw else None
        print(json.dumps({"offset": msg.offset(), "schema_id": schema_id, "key": plain(key), "value": plain(value)}))
        got += 1
    consumer.close()
    if got < count:
        raise SystemExit(f"only {got} of {count} records arrived")


if __name__ == "__main__":
    main()
