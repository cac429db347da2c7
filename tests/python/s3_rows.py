"""Read an object-store target's change files with boto3 + pyarrow / fastavro (clients Sluice did
not write)
and replay them into the table's current state.

Usage:
  s3_rows.py mkbucket ENDPOINT BUCKET
  s3_rows.py rows ENDPOINT BUCKET PREFIX KEYCOLUMN[,KEYCOLUMN…] COLUMN[,COLUMN…]
  s3_rows.py files ENDPOINT BUCKET PREFIX
  s3_rows.py typed ENDPOINT BUCKET PREFIX KEYCOLUMN

`rows`: every `.parquet` / `.avro` / `.jsonl` object under PREFIX (a table's directory, all partition
directories included), rows replayed in (__topic, __partition, __offset) order: `c`/`u`/`r` set
the key's row (a column named in `__unchanged` keeps the key's previous value), `d` removes it,
`t` empties the table. Prints {"<key>": [<column as text, or null>, …]}; the key is the single
key column's text, or the key columns' texts joined with ','. An offset seen twice is an error
(a duplicate). Values as text: integers and decimals in decimal, booleans true/false,
timestamps ISO 8601 (`YYYY-MM-DDTHH:MM:SS.ffffff`, `Z` when UTC-adjusted), dates ISO, bytes hex,
UUIDs hyphenated, lists as compact JSON.
`files`: the data object keys under PREFIX, one per line, sorted.
`typed`: the replayed rows with each column's type as the file declares it, {"<key>": {"<column>":
[<type>, <value as text>]}}: for Parquet pyarrow's type name (`decimal128(12, 3)`,
`timestamp[us, tz=UTC]`, `extension<arrow.uuid>`, ...), for Avro the logical type or the type
name (`decimal(12,3)`, `timestamp-micros`, `array<long>`, ...), for JSON Lines the JSON value's
Python type name.
Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else the test bench's SLUICE_S3_*.
"""

import datetime
import decimal
import io
import json
import os
import sys
import uuid

import boto3
import fastavro
import pyarrow.parquet as pq


def client(endpoint):
    env = os.environ
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or env.get("SLUICE_S3_ACCESS_KEY_ID"),
                        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or env.get("SLUICE_S3_SECRET_ACCESS_KEY"),
                        config=boto3.session.Config(s3={"addressing_style": "path"}))


def keys(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(k for k in out if k.endswith((".parquet", ".avro", ".jsonl")))


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        s = v.replace(tzinfo=None).isoformat(timespec="microseconds")
        return s + "Z" if v.tzinfo is not None else s
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"), sort_keys=True, default=text)
    return str(v)


def avro_type(t):
    """A field's type in short: the non-null branch's logical type, else its type name."""
    if isinstance(t, list):
        t = next(b for b in t if b != "null")
    if isinstance(t, str):
        return t
    logical = t.get("logicalType")
    if logical == "decimal":
        return f"decimal({t['precision']},{t['scale']})"
    if logical:
        return logical
    if t["type"] == "array":
        return f"array<{avro_type(t['items'])}>"
    return t.get("sluice.type") or t["type"]


def read(s3, bucket, key):
    """The rows of one file, and {column: type} as the file declares them."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if key.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(body))
        return table.to_pylist(), {f.name: str(f.type) for f in table.schema}
    if key.endswith(".avro"):
        reader = fastavro.reader(io.BytesIO(body))
        types = {f["name"]: avro_type(f["type"]) for f in reader.writer_schema["fields"]}
        return list(reader), types
    rows = [json.loads(line) for line in body.decode().splitlines() if line]
    return rows, None


def replay(changes, key_cols):
    """The current rows, {key text: {column: value}}, from change rows replayed in (__topic,
    __partition, __offset) order; an offset seen twice is an error (a duplicate)."""
    changes = sorted(changes, key=lambda r: (r["__topic"], r["__partition"], r["__offset"]))
    seen = set()
    state = {}
    for r in changes:
        at = (r["__topic"], r["__partition"], r["__offset"])
        if at in seen:
            raise SystemExit(f"offset {at} is in the change log twice")
        seen.add(at)
        op = r["__op"]
        if op == "t":
            state = {}
            continue
        key = ",".join(text(r[c]) for c in key_cols)
        if op == "d":
            state.pop(key, None)
            continue
        prev = state.get(key, {})
        row = {c: r.get(c) for c in r if not c.startswith("__")}
        for c in r.get("__unchanged") or []:
            row[c] = prev.get(c)
        state[key] = row
    return state


def emit(cmd, state, types):
    """Print `state` (key → row): for `typed` each column as [type in `types` (else the Python
    type's name), text]; else the columns named in argv[6] as text, in that order."""
    if cmd == "typed":
        def typed(c, v):
            return [types.get(c) or type(v).__name__, text(v)]
        print(json.dumps({k: {c: typed(c, v) for c, v in row.items()} for k, row in state.items()}))
        return
    columns = sys.argv[6].split(",")
    print(json.dumps({k: [text(row.get(c)) for c in columns] for k, row in state.items()}))


def main() -> None:
    cmd, endpoint, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
    s3 = client(endpoint)
    if cmd == "mkbucket":
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        return
    prefix = sys.argv[4].rstrip("/") + "/"
    if cmd == "files":
        print("\n".join(keys(s3, bucket, prefix)))
        return
    key_cols = sys.argv[5].split(",")
    changes = []
    types = {}
    for k in keys(s3, bucket, prefix):
        rows, declared = read(s3, bucket, k)
        changes.extend(rows)
        types.update(declared or {})
    emit(cmd, replay(changes, key_cols), types)


if __name__ == "__main__":
    main()
    # pyarrow's C++ thread pools sometimes abort at interpreter shutdown ("terminate called
    # without an active exception") when several readers run at once: leave without it.
    sys.stdout.flush()
    os._exit(0)
