"""Read a Kinesis stream Sluice wrote with boto3 (a client Sluice did not write), decode every
record with confluent-kafka's AvroDeserializer against the schema registry, and fold the change
events into the table's current state.

Usage:
  kinesis_rows.py rows ENDPOINT STREAM REGISTRY_URL KEYCOLUMN COLUMN[,COLUMN…]

Every shard is read from TRIM_HORIZON to its end (parents before children: a shard is read after
the shard it was split or merged from). A record's data is the event value (Confluent wire
format); its partition key is the event key's bytes in base64 (`~`: no key), decoded and checked
against the value's key column. Per key, the events' source positions (`source.lsn`, else
(`source.file`, `source.pos`)) must never go back: a record written twice is allowed (at-least-once), a reordering
is an error. Prints {"rows": {"<key>": [<column as text, or null>, …]}, "records": N}; a stream
that does not exist yet reads as empty.
Credentials: any (the test server accepts any signature).
"""

import base64
import json
import sys

import boto3
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def client(endpoint):
    return boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="sluice", aws_secret_access_key="sluice")


def shards_in_order(k, stream):
    shards = k.list_shards(StreamName=stream)["Shards"]  # kinesalite: never pass NextToken
    ids = {s["ShardId"] for s in shards}
    done, order = set(), []
    while len(order) < len(shards):
        for s in shards:
            if s["ShardId"] in done:
                continue
            parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p in ids]
            if all(p in done for p in parents):
                done.add(s["ShardId"])
                order.append(s["ShardId"])
    return order


def read_shard(k, stream, shard):
    it = k.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    while it:
        page = k.get_records(ShardIterator=it, Limit=10000)
        out.extend(page["Records"])
        it = page.get("NextShardIterator")
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            break  # an open shard read to its end
    return out


def text(v):
    if v is None:
        return None
    return str(v)


def main():
    cmd, endpoint, stream, registry, key_col, cols = sys.argv[1:7]
    assert cmd == "rows", cmd
    columns = cols.split(",")
    reg = SchemaRegistryClient({"url": registry})
    key_de, value_de = AvroDeserializer(reg), AvroDeserializer(reg)
    k = client(endpoint)
    state, last_pos, records = {}, {}, 0
    try:
        shards = shards_in_order(k, stream)
    except k.exceptions.ResourceNotFoundException:
        shards = []  # not created yet: nothing published
    for shard in shards:
        for r in read_shard(k, stream, shard):
            records += 1
            value = value_de(bytes(r["Data"]), SerializationContext(stream, MessageField.VALUE))
            image = value["after"] if value["op"] != "d" else value["before"]
            key_bytes = None if r["PartitionKey"] == "~" else base64.b64decode(r["PartitionKey"])
            key = key_de(key_bytes, SerializationContext(stream, MessageField.KEY)) if key_bytes else None
            kv = text(image[key_col])
            if key is not None and text(key[key_col]) != kv:
                sys.exit(f"record {r['SequenceNumber']}: partition key {key} does not match the row's {key_col} {kv}")
            src = value["source"]
            # PostgreSQL: the LSN; MySQL/MariaDB: (binlog file, position).
            pos = (src["lsn"],) if src.get("lsn") is not None else (src.get("file"), src.get("pos"))
            if kv in last_pos and pos < last_pos[kv]:
                sys.exit(f"key {kv}: position {pos} after {last_pos[kv]} (out of order)")
            last_pos[kv] = pos
            if value["op"] == "d":
                state.pop(kv, None)
            else:
                state[kv] = [text(image[c]) for c in columns]
    print(json.dumps({"rows": state, "records": records}))


if __name__ == "__main__":
    main()
