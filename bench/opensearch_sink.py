"""`sluice sink` into OpenSearch against opensearch-py's `helpers.bulk` of the same documents.

Run by `make bench-opensearch` (scripts/with-testbed starts the servers, osmem-server included).
  1. the PostgreSQL table of bench/pg_sink.py (int4 key, int4, text, timestamptz,
     numeric(12,2)) gets BENCH_SINK_ROWS inserts (default here 200,000); `sluice source`
     publishes them (untimed, shared with bench/pg_sink.py);
  2. `sluice sink` with `type = "opensearch"` (release build, default settings: `_bulk` of 1,000
     documents, 4 in flight, versioned writes; BENCH_OPENSEARCH_BULK_DOCS / _CONCURRENCY change them) is timed from its start until its offsets document
     reaches the topic's high watermark (bench/target_sink.py);
  3. the bulk baseline: the same documents (same `_source`: numbers, the decimal as an exact
     string, the timestamp as ISO 8601 text; 100 sampled documents compared with the sink's) into
     a fresh index with the sink index's mapping, with `helpers.bulk` in chunks of 500 (its
     default) and of 5,000 documents, no versions; the faster is kept. The ratio sink / bulk is
     the figure the target is held to (goal ≥ 0.8).
Results go to docs/bench/opensearch_sink.json.
"""
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("BENCH_SINK_ROWS", "200000")

from opensearchpy import OpenSearch, helpers  # noqa: E402

import pg_sink  # noqa: E402
from pg_sink import TAG, proc_cpu  # noqa: E402
from target_sink import bench_rows, run_bench, server_pid, time_sink  # noqa: E402

TB = pg_sink.TB
URL = f"http://{TB['opensearch']['host']}:{TB['opensearch']['port']}"
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/opensearch_sink.json")
INDEX = f"{TAG}.sink.t".lower()


def docs(n):
    for g, a, b, secs, cents in bench_rows(n):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        yield {"id": g, "a": a, "b": b, "c": f"{ts}.000000Z", "d": f"{cents // 100}.{cents % 100:02d}"}


def run_sink(work_dir, topic, schemas, end):
    client = OpenSearch(hosts=[URL])
    settings = f"""index_pattern = "{INDEX}"
concurrency = {os.environ.get("BENCH_OPENSEARCH_CONCURRENCY", "4")}
bulk_docs = {os.environ.get("BENCH_OPENSEARCH_BULK_DOCS", "1000")}
[sink.connection]
url = "{URL}"
"""

    def applied():
        try:
            doc = client.get(index="sluice_offsets", id=f"bench:{topic}:0")
        except Exception:  # noqa: BLE001 — not created yet
            return 0
        return int(doc["_source"]["next_offset"])

    return time_sink(work_dir, topic, schemas, end, "opensearch", settings, applied,
                     server_pid(f"osmem-server -addr 127.0.0.1:{TB['opensearch']['port']}"))


def check_same_documents(n):
    client = OpenSearch(hosts=[URL])
    want = {d["id"]: d for d in docs(n)}
    for g in range(1, n + 1, max(n // 100, 1)):
        got = client.get(index=INDEX, id=str(g))["_source"]
        if got != want[g]:
            raise SystemExit(f"document {g}: sink wrote {got}, the baseline writes {want[g]}")


def run_bulk(n, chunk, parked=False):
    """helpers.bulk of the n documents in chunks of `chunk`. `parked`: with one consumer waiting
    at the end of a topic of the same broker meanwhile, as the sink run has (its registry's
    reader): noida-db spends about 0.35 of a core on every pending fetch."""
    client = OpenSearch(hosts=[URL], timeout=120)
    name = f"{INDEX}.bulk{chunk}{'p' if parked else ''}"
    mapping = client.indices.get_mapping(index=INDEX)[INDEX]["mappings"]
    client.indices.create(index=name, body={"mappings": mapping})
    actions = [{"_index": name, "_id": str(d["id"]), "_source": d} for d in docs(n)]
    server = server_pid(f"osmem-server -addr 127.0.0.1:{TB['opensearch']['port']}")
    cpu0 = proc_cpu(server)[0]
    consumer = None
    if parked:
        consumer = subprocess.Popen(["kcat", "-C", "-b", pg_sink.BOOTSTRAP, "-t", f"{TAG}._parked", "-o", "end",
                                     "-q", "-X", "allow.auto.create.topics=true"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
    t0 = time.time()
    ok, errors = helpers.bulk(client, actions, chunk_size=chunk, max_chunk_bytes=100 << 20)
    secs = time.time() - t0
    if consumer:
        consumer.kill()
    server_cpu = proc_cpu(server)[0] - cpu0
    if ok != n or errors:
        raise SystemExit(f"helpers.bulk wrote {ok} of {n}: {errors[:3]}")
    out = {"chunk_size": chunk, "seconds": round(secs, 2), "rows_per_s": round(n / secs),
           "server_cpu_s_per_million": round(server_cpu / n * 1e6, 1)}
    if parked:
        out["parked_consumer"] = True
    return out


def main():
    def baselines(n):
        runs = [run_bulk(n, chunk) for chunk in (500, 5000)]
        parked = run_bulk(n, 5000, parked=True)
        print(json.dumps({"opensearch_py_bulk_5000_with_a_parked_consumer": parked}), flush=True)
        return runs + [parked]

    run_bench("opensearch", OUT, "one document per row", run_sink, check_same_documents,
              baselines, "opensearch_py_bulk", "bulk")


if __name__ == "__main__":
    sys.exit(main())
