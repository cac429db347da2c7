"""`sluice sink` into MongoDB against pymongo's `insert_many` of the same documents.

Run by `make bench-mongodb` (scripts/with-testbed starts the servers, SecantusDB included).
  1. the PostgreSQL table of bench/pg_sink.py (int4 key, int4, text, timestamptz,
     numeric(12,2)) gets BENCH_SINK_ROWS inserts (default here 200,000: SecantusDB is a Python
     server); `sluice source` publishes them (untimed, shared with bench/pg_sink.py);
  2. `sluice sink` with `type = "mongodb"` (release build, default batching) is timed from its
     start until the offsets in `sluice_offsets` reach the topic's high watermark
     (bench/target_sink.py);
  3. the bulk baseline: the same documents (same BSON types: Int32 `_id`/`a`, string `b`,
     ISO-8601 string `c`, Decimal128 `d`), written by pymongo `insert_many(ordered=False)` in
     batches of 10,000, three times (each into a fresh collection); the median is kept. The
     ratio sink / insert_many is the figure the MongoDB target is held to (goal ≥ 0.7).
Results go to docs/bench/mongodb_sink.json.
"""
import os
import statistics
import sys
import time

os.environ.setdefault("BENCH_SINK_ROWS", "200000")

import bson  # noqa: E402
import pymongo  # noqa: E402

import pg_sink  # noqa: E402
from pg_sink import TAG  # noqa: E402
from target_sink import bench_rows, run_bench, server_pid, time_sink  # noqa: E402

TB = pg_sink.TB
URL = f"mongodb://{TB['mongodb']['host']}:{TB['mongodb']['port']}/?directConnection=true"
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/mongodb_sink.json")
DB = f"{TAG}_mongo"


def docs(n):
    for g, a, b, secs, cents in bench_rows(n):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        yield {"_id": g, "id": g, "a": a, "b": b, "c": f"{ts}.000000Z",
               "d": bson.decimal128.Decimal128(f"{cents // 100}.{cents % 100:02d}")}


def run_sink(work_dir, topic, schemas, end):
    c = pymongo.MongoClient(URL)
    settings = f"""database = "{DB}"
collection_pattern = "sink_{{table}}"
[sink.connection]
url = "{URL}"
"""

    def applied():
        return sum(d["next_offset"] for d in c[DB]["sluice_offsets"].find({"_id.sink": "bench"}))

    return time_sink(work_dir, topic, schemas, end, "mongodb", settings, applied,
                     server_pid(f"secantusd.*--port {TB['mongodb']['port']}"))


def check_same_documents(n):
    c = pymongo.MongoClient(URL)
    want = {d["_id"]: d for d in docs(n)}
    for g in range(1, n + 1, max(n // 100, 1)):
        got = c[DB]["sink_t"].find_one({"_id": g})
        if got != want[g]:
            raise SystemExit(f"row {g}: sink wrote {got}, the baseline writes {want[g]}")


def run_insert_many(n):
    c = pymongo.MongoClient(URL)
    data = list(docs(n))
    runs = []
    for run in range(3):
        coll = c[DB][f"bulk{run}"]
        t0 = time.time()
        for i in range(0, n, 10000):
            coll.insert_many(data[i:i + 10000], ordered=False)
        runs.append(time.time() - t0)
    secs = statistics.median(runs)
    return {"seconds": round(secs, 2), "rows_per_s": round(n / secs), "runs_seconds": [round(x, 2) for x in runs]}


def main():
    run_bench("mongodb", OUT, "one document per row", run_sink, check_same_documents, run_insert_many,
              "pymongo_insert_many", "insert_many")


if __name__ == "__main__":
    sys.exit(main())
