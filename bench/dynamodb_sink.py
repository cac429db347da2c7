"""`sluice sink` into DynamoDB against boto3's `batch_writer` (BatchWriteItem) of the same items.

Run by `make bench-dynamodb` (scripts/with-testbed starts the servers, dynalite included).
  1. the PostgreSQL table of bench/pg_sink.py (int4 key, int4, text, timestamptz,
     numeric(12,2)) gets BENCH_SINK_ROWS inserts (default here 100,000: dynalite is a Node.js
     server on LevelDB); `sluice source` publishes them (untimed, shared with bench/pg_sink.py);
  2. `sluice sink` with `type = "dynamodb"` (release build, default batching and concurrency) is
     timed from its start until its offsets item reaches the topic's high watermark
     (bench/target_sink.py);
  3. the bulk baseline: the same items (N `id`/`a`/`d`, S `b`/`c`), written with boto3's
     `Table.batch_writer()` (BatchWriteItem, 25 items per request) from 1 and from 8 threads,
     each into a fresh table; the faster is kept. The ratio sink / batch write is the figure the
     DynamoDB target is held to (goal ≥ 0.7). The sink writes with conditional `UpdateItem`s
     (one item per request, `concurrency` in flight), which BatchWriteItem cannot carry.
Results go to docs/bench/dynamodb_sink.json.
"""
import concurrent.futures
import decimal
import os
import sys
import time

os.environ.setdefault("BENCH_SINK_ROWS", "100000")

import boto3  # noqa: E402

import pg_sink  # noqa: E402
from pg_sink import TAG  # noqa: E402
from target_sink import bench_rows, run_bench, server_pid, time_sink  # noqa: E402

TB = pg_sink.TB
URL = f"http://{TB['dynamodb']['host']}:{TB['dynamodb']['port']}"
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/dynamodb_sink.json")
AUTH = {"endpoint_url": URL, "region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def items(n):
    for g, a, b, secs, cents in bench_rows(n):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        yield {"id": g, "a": a, "b": b, "c": f"{ts}.000000Z", "d": decimal.Decimal(f"{cents // 100}.{cents % 100:02d}")}


def run_sink(work_dir, topic, schemas, end):
    db = boto3.resource("dynamodb", **AUTH)
    settings = f"""table_pattern = "{TAG}.sink.{{table}}"
offsets_table = "{TAG}.offsets"
concurrency = {os.environ.get("BENCH_DYNAMODB_CONCURRENCY", "32")}
write_mode = "{os.environ.get("BENCH_DYNAMODB_WRITE_MODE", "batch")}"
[sink.connection]
endpoint_url = "{URL}"
region = "us-east-1"
access_key_id = "test"
secret_access_key = "test"
"""

    def applied():
        try:
            page = db.Table(f"{TAG}.offsets").get_item(Key={"sink": "bench", "topic_partition": f"{topic}:0"},
                                                       ConsistentRead=True)
        except db.meta.client.exceptions.ResourceNotFoundException:
            return 0
        return int(page.get("Item", {}).get("next_offset", 0))

    return time_sink(work_dir, topic, schemas, end, "dynamodb", settings, applied,
                     server_pid(f"dynalite.*--port {TB['dynamodb']['port']}"))


def check_same_items(n):
    t = boto3.resource("dynamodb", **AUTH).Table(f"{TAG}.sink.t")
    want = {i["id"]: i for i in items(n)}
    for g in range(1, n + 1, max(n // 100, 1)):
        got = t.get_item(Key={"id": g}, ConsistentRead=True)["Item"]
        got.pop("__sluice_offset", None)
        if got != want[g]:
            raise SystemExit(f"row {g}: sink wrote {got}, the baseline writes {want[g]}")


def run_batch_writer(n, threads):
    db = boto3.resource("dynamodb", **AUTH)
    name = f"{TAG}.bulk{threads}"
    db.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                    BillingMode="PAY_PER_REQUEST").wait_until_exists()
    data = list(items(n))
    chunks = [data[i::threads] for i in range(threads)]

    def write(chunk):
        with boto3.resource("dynamodb", **AUTH).Table(name).batch_writer() as w:
            for item in chunk:
                w.put_item(Item=item)

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, chunks))
    secs = time.time() - t0
    return {"threads": threads, "seconds": round(secs, 2), "rows_per_s": round(n / secs)}


def main():
    run_bench("dynamodb", OUT, "one item per row", run_sink, check_same_items,
              lambda n: [run_batch_writer(n, threads) for threads in (1, 8)], "boto3_batch_writer", "batch_write")


if __name__ == "__main__":
    sys.exit(main())
