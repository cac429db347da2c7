"""`sluice sink` into S3 as Parquet files against pyarrow writing the same rows, and into an Iceberg
table (commit latency, rows/s).

Run by `make bench-s3` (scripts/with-testbed starts the servers, SeaweedFS included).
  1. the PostgreSQL table of bench/pg_sink.py (int4 key, int4, text, timestamptz,
     numeric(12,2)) gets BENCH_SINK_ROWS inserts (default here 1,000,000); `sluice source`
     publishes them (untimed, shared with bench/pg_sink.py);
  2. `sluice sink` with `type = "s3"` (release build, Parquet, zstd 3, files of 100,000 rows:
     the defaults) is timed from its start until its manifests record the topic's high watermark
     (bench/target_sink.py);
  3. the baseline: the same rows with the same columns and types (the sink's metadata columns
     included), built as one Arrow table in memory (untimed), then written by
     `pyarrow.parquet.write_table` through `pyarrow.fs.S3FileSystem` to the same SeaweedFS in
     files of 100,000 rows, zstd 3 (timed: encode + upload, the physical limit of the stage);
     goal: sink ≥ 1× the baseline. CPU of the sink, of the baseline's process and of SeaweedFS
     per 1M rows; and the broker's bare-consumer rate (a librdkafka consumer reading the topic
     and dropping the records), the floor every sink's wall time has on this broker;
  4. `sluice sink` with `type = "iceberg"` (SQLite catalog, day partitions, commit every
     BENCH_ICEBERG_COMMIT_RECORDS rows, default 100,000): rows/s and the commit latency
     (`sluice_sink_iceberg_commit_seconds`: data files written + snapshot committed).
Results go to docs/bench/s3_sink.json.
"""
import decimal
import json
import os
import sys
import tempfile
import time
import urllib.request

os.environ.setdefault("BENCH_SINK_ROWS", "1000000")

import boto3  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import pg_sink  # noqa: E402
from pg_sink import TAG, proc_cpu  # noqa: E402
from target_sink import bench_rows, machine, server_pid, time_sink  # noqa: E402

TB = pg_sink.TB
S3 = TB["s3"]
URL = f"http://{S3['host']}:{S3['port']}"
BUCKET = f"{TAG}-bench".lower().replace("_", "-")
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/s3_sink.json")
FILE_ROWS = 100_000


def s3():
    return boto3.client("s3", endpoint_url=URL, region_name="us-east-1",
                        aws_access_key_id=S3["access_key_id"], aws_secret_access_key=S3["secret_access_key"],
                        config=boto3.session.Config(s3={"addressing_style": "path"}))


def seaweed():
    return server_pid(f"s3.port={S3['port']}")


def connection():
    return f"""[sink.connection]
endpoint_url = "{URL}"
region = "us-east-1"
access_key_id = "{S3['access_key_id']}"
secret_access_key = "{S3['secret_access_key']}"
"""


def run_sink(work_dir, topic, schemas, end):
    client = s3()
    state = f"files/_sluice/bench/{topic}+"

    def applied():
        total = 0
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=state)
        newest = {}
        for page in pages:
            for o in page.get("Contents", []):
                k = o["Key"]
                if k.rsplit("/", 1)[-1].startswith("manifest-"):
                    d = k.rsplit("/", 1)[0]
                    newest[d] = max(newest.get(d, ""), k)
        for k in newest.values():
            total += json.loads(client.get_object(Bucket=BUCKET, Key=k)["Body"].read())["next_offset"]
        return total

    settings = f'bucket = "{BUCKET}"\nprefix = "files"\nroll_secs = 5\n{connection()}'
    return time_sink(work_dir, topic, schemas, end, "s3", settings, throttled(applied), seaweed())


def throttled(f, every=0.25):
    """`f`, called at most every `every` seconds (the last answer in between)."""
    last = [0.0, 0]

    def g():
        if time.time() - last[0] >= every:
            last[1] = f()
            last[0] = time.time()
        return last[1]
    return g


def arrow_table(n):
    """The rows as the sink writes them (its Parquet schema, bench/pg_sink.py's values)."""
    ids, a_, b_, c_, d_ = [], [], [], [], []
    for g, a, b, secs, cents in bench_rows(n):
        ids.append(g)
        a_.append(a)
        b_.append(b)
        c_.append(secs * 1_000_000)
        d_.append(cents)
    unchanged = pa.list_(pa.field("element", pa.string()))
    return pa.table({
        "__op": pa.array(["c"] * n, pa.string()),
        "__ts_ms": pa.array([1_704_067_200_000] * n, pa.timestamp("ms", tz="UTC")),
        "__source_pos": pa.array([f"0/{g:X}" for g in ids], pa.string()),
        "__txn_id": pa.array([str(1000 + g // 1000) for g in ids], pa.string()),
        "__topic": pa.array([f"{TAG}.public.t"] * n, pa.string()),
        "__partition": pa.array([0] * n, pa.int32()),
        "__offset": pa.array([g - 1 for g in ids], pa.int64()),
        "__unchanged": pa.array([None] * n, unchanged),
        "id": pa.array(ids, pa.int32()),
        "a": pa.array(a_, pa.int32()),
        "b": pa.array(b_, pa.string()),
        "c": pa.array(c_, pa.timestamp("us", tz="UTC")),
        "d": pa.array([decimal.Decimal(c).scaleb(-2) for c in d_], pa.decimal128(12, 2)),
    })


def check_same_rows(n):
    """A sampled sink file read with pyarrow has the baseline's schema for the table columns."""
    client = s3()
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="files/public/")
            for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]
    if not keys:
        raise SystemExit("the sink wrote no Parquet file")
    body = client.get_object(Bucket=BUCKET, Key=sorted(keys)[0])["Body"].read()
    got = pq.read_table(pa.BufferReader(body)).schema
    want = arrow_table(1).schema
    for name in ("id", "a", "b", "c", "d", "__offset", "__ts_ms"):
        if not got.field(name).type.equals(want.field(name).type):
            raise SystemExit(f"column {name}: sink {got.field(name).type}, baseline {want.field(name).type}")


def run_pyarrow(n):
    table = arrow_table(n)
    fs = pafs.S3FileSystem(endpoint_override=URL, access_key=S3["access_key_id"], secret_key=S3["secret_access_key"],
                           region="us-east-1", scheme="http", force_virtual_addressing=False)
    server = seaweed()
    scpu0 = proc_cpu(server)[0]
    c0 = time.process_time()
    t0 = time.time()
    for i, start in enumerate(range(0, n, FILE_ROWS)):
        part = table.slice(start, FILE_ROWS)
        pq.write_table(part, f"{BUCKET}/pyarrow/part-{i:05d}.parquet", filesystem=fs,
                       compression="zstd", compression_level=3, row_group_size=FILE_ROWS)
    secs = time.time() - t0
    cpu = time.process_time() - c0
    return {"seconds": round(secs, 2), "rows_per_s": round(n / secs),
            "cpu_s_per_million": round(cpu / n * 1e6, 2),
            "server_cpu_s_per_million": round((proc_cpu(server)[0] - scpu0) / n * 1e6, 2),
            "files": (n + FILE_ROWS - 1) // FILE_ROWS}


def run_bare_consumer(topic, n):
    """The broker's bare-consumer rate: librdkafka (confluent-kafka) reading the topic's records
    and dropping them, the floor of any sink's wall time on this broker (the sink fetches the
    same bytes). kcat would do, but noida-db drops its connection."""
    from confluent_kafka import Consumer
    broker = server_pid(f"kafka-port {pg_sink.BOOTSTRAP.rsplit(':', 1)[1]} ")
    bcpu0 = proc_cpu(broker)[0] if broker else 0.0
    c = Consumer({"bootstrap.servers": pg_sink.BOOTSTRAP, "group.id": f"{TAG}.bare", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "receive.message.max.bytes": 1_000_000_000})
    c.subscribe([topic])
    got = 0
    c0 = time.process_time()
    t0 = time.time()
    while got < n:
        for m in c.consume(10_000, timeout=1.0):
            if m.error() is None:
                got += 1
        if time.time() - t0 > 600:
            raise SystemExit(f"bare consumer read {got} of {n} records in 600 s")
    secs = time.time() - t0
    cpu = time.process_time() - c0
    c.close()
    return {"seconds": round(secs, 2), "rows_per_s": round(n / secs), "cpu_s_per_million": round(cpu / n * 1e6, 2),
            "broker_cpu_s_per_million": round(((proc_cpu(broker)[0] if broker else 0.0) - bcpu0) / n * 1e6, 2)}


def run_iceberg(work_dir, topic, schemas, end):
    from pyiceberg.catalog.sql import SqlCatalog

    db = os.path.join(work_dir, "catalog.db")
    commit_rows = int(os.environ.get("BENCH_ICEBERG_COMMIT_RECORDS", "100000"))
    settings = f"""warehouse = "s3://{BUCKET}/iceberg"
namespace = "bench"
table_pattern = "{{table}}"
commit_records = {commit_rows}
commit_secs = 5
[sink.catalog]
uri = "sqlite://{db}?mode=rwc"
{connection()}"""
    catalog = SqlCatalog("sluice", uri=f"sqlite:///{db}", **{
        "s3.endpoint": URL, "s3.access-key-id": S3["access_key_id"],
        "s3.secret-access-key": S3["secret_access_key"], "s3.region": "us-east-1"})
    metrics = {}

    def applied():
        try:
            table = catalog.load_table("bench.t")
        except Exception:  # noqa: BLE001 — not created yet
            return 0
        snap = table.current_snapshot()
        if snap is None:
            return 0
        offsets = json.loads(snap.summary.additional_properties.get("sluice.offsets.bench", "{}"))
        done = sum(sum(p.values()) for p in offsets.values())
        if done >= end:
            scrape()
        return done

    def scrape():
        port = open(os.path.join(work_dir, "sink-iceberg.toml")).read().split('listen = "127.0.0.1:')[1].split('"')[0]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith("sluice_sink_iceberg_commit_seconds"):
                name, value = line.rsplit(" ", 1)
                metrics[name] = float(value)

    result = time_sink(work_dir, topic, schemas, end, "iceberg", settings, throttled(applied, 0.5), seaweed())
    table = catalog.load_table("bench.t")
    result["snapshots"] = len(table.metadata.snapshots)
    result["commit_records"] = commit_rows
    count = metrics.get("sluice_sink_iceberg_commit_seconds_count")
    total = metrics.get("sluice_sink_iceberg_commit_seconds_sum")
    if count:
        result["commit_seconds_mean"] = round(total / count, 3)
        for k, v in metrics.items():
            if 'quantile="0.5"' in k:
                result["commit_seconds_p50"] = round(v, 3)
            if 'quantile="0.99"' in k or 'quantile="1"' in k:
                result["commit_seconds_max_or_p99"] = round(v, 3)
    return result


def main():
    from pg_sink import high_water, publish

    client = s3()
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    work_dir = tempfile.mkdtemp(prefix="sluice-bench-s3-")
    topic, schemas, publish_s = publish(work_dir)
    end = high_water(topic)
    print(f"{end} events in {topic} (published in {publish_s:.1f} s)", flush=True)
    sink = run_sink(work_dir, topic, schemas, end)
    print(json.dumps({"sink_parquet": sink}), flush=True)
    check_same_rows(end)
    base = run_pyarrow(end)
    print(json.dumps({"pyarrow_write_table": base}), flush=True)
    bare = run_bare_consumer(topic, end)
    print(json.dumps({"bare_consumer": bare}), flush=True)
    iceberg = run_iceberg(work_dir, topic, schemas, end)
    print(json.dumps({"sink_iceberg": iceberg}), flush=True)
    result = {
        "workload": f"{end} inserts, 5 columns (int4 key, int4, text, timestamptz, numeric(12,2)) → Parquet files "
                    f"of {FILE_ROWS} rows with 8 metadata columns; and an Iceberg table",
        "sink_parquet": sink,
        "pyarrow_write_table": base,
        "ratio_sink_to_pyarrow": round(sink["rows_per_s"] / base["rows_per_s"], 3),
        "ratio_steady_sink_to_pyarrow": round(sink["steady_rows_per_s_10_to_90"] / base["rows_per_s"], 3),
        "bare_consumer": bare,
        "ratio_sink_to_bare_consumer": round(sink["rows_per_s"] / bare["rows_per_s"], 3),
        "sink_iceberg": iceberg,
    }
    print(json.dumps({"ratio_sink_to_pyarrow": result["ratio_sink_to_pyarrow"]}), flush=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"machine": machine(), "results": [result]}, f, indent=2)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
