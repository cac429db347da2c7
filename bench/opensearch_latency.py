"""End-to-end latency of the OpenSearch target: source commit → searchable, at a fixed load.

Run by `make bench-opensearch-latency` (scripts/with-testbed starts the servers).
  1. a PostgreSQL table `lat (id int PRIMARY KEY, status text, note text)`; `sluice source`
     (release build, built-in registry) streams it, `sluice sink` with `type = "opensearch"`
     (default settings: `refresh = "false"`, so the index refreshes on its own schedule) applies
     it, both running for the whole measurement;
  2. a writer commits BENCH_LAT_RATE rows/s (default 500, in transactions of a tenth of that,
     ten a second) for BENCH_LAT_SECONDS (default 30); every other transaction carries one probe
     row with a unique `status`, and the time its COMMIT returned is kept;
  3. a reader asks the index every 10 ms, in one `terms` query on `status.keyword`, for the probes
     not yet seen; a probe's latency = the time of the first answer holding it − its commit.
Prints and writes p50/p90/p99/max to docs/bench/opensearch_latency.json.
"""
import json
import os
import sys
import tempfile
import threading
import time

from opensearchpy import OpenSearch

import pg_sink
from pg_sink import BOOTSTRAP, TAG, conn, free_port, spawn, stop, wait_http, write_source_config
from target_sink import machine

URL = f"http://{pg_sink.TB['opensearch']['host']}:{pg_sink.TB['opensearch']['port']}"
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/opensearch_latency.json")
RATE = int(os.environ.get("BENCH_LAT_RATE", "500"))
SECONDS = int(os.environ.get("BENCH_LAT_SECONDS", "30"))
INDEX = f"{TAG}.lat".lower()


def start(work_dir, db):
    reg = free_port()
    source_cfg = os.path.join(work_dir, "source.toml")
    write_source_config(source_cfg, db, reg, "lat")
    src_log = os.path.join(work_dir, "source.log")
    src = spawn(["source", "--config", source_cfg], src_log)
    wait_http(f"http://127.0.0.1:{reg}/subjects", src, src_log)
    sink_cfg = os.path.join(work_dir, "sink.toml")
    with open(sink_cfg, "w") as f:
        f.write(f"""[log]
level = "warn"
[sink]
type = "opensearch"
name = "lat"
group_id = "{TAG}.lat"
topics = ["{TAG}.public.lat"]
index_pattern = "{INDEX}"
[sink.connection]
url = "{URL}"
[kafka]
bootstrap_servers = "{BOOTSTRAP}"
[registry]
url = "http://127.0.0.1:{reg}"
""")
    sink = spawn(["sink", "--config", sink_cfg], os.path.join(work_dir, "sink.log"))
    return src, sink


def main():
    work_dir = tempfile.mkdtemp(prefix="sluice-bench-oslat-")
    db = f"{TAG}_lat"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    with conn(db) as c:
        c.execute("CREATE TABLE lat (id int PRIMARY KEY, status text, note text)")
        c.execute("INSERT INTO lat VALUES (0, 'warm-up', 'x')")
    src, sink = start(work_dir, db)
    client = OpenSearch(hosts=[URL])
    t0 = time.time()
    while True:  # the pipeline is up when the warm-up row is searchable
        try:
            if client.count(index=INDEX)["count"] > 0:
                break
        except Exception:  # noqa: BLE001 — the index is not there yet
            pass
        if time.time() - t0 > 120:
            raise SystemExit(f"the pipeline did not come up: {open(os.path.join(work_dir, 'sink.log')).read()}")
        time.sleep(0.1)

    committed, seen, done = {}, {}, threading.Event()

    def reader():
        while not done.is_set() or len(seen) < len(committed):
            pending = [s for s in list(committed) if s not in seen]
            if pending:
                body = {"size": len(pending), "_source": ["status"],
                        "query": {"terms": {"status.keyword": pending}}}
                hits = client.search(index=INDEX, body=body)["hits"]["hits"]
                now = time.time()
                for h in hits:
                    seen.setdefault(h["_source"]["status"], now)
            if done.is_set() and time.time() - stop_at > 60:
                break
            time.sleep(0.01)

    per_tx = max(RATE // 10, 1)
    stop_at = float("inf")
    r = threading.Thread(target=reader)
    r.start()
    with conn(db, autocommit=False) as c:
        next_id = 1
        begin = time.time()
        for tick in range(SECONDS * 10):
            rows = [(next_id + i, f"s{next_id + i}", "load") for i in range(per_tx)]
            probe = None
            if tick % 2 == 0:
                probe = f"probe-{tick}"
                rows[0] = (rows[0][0], probe, "probe")
            next_id += per_tx
            with c.cursor() as cur:
                cur.executemany("INSERT INTO lat VALUES (%s, %s, %s)", rows)
            c.commit()
            if probe:
                committed[probe] = time.time()
            time.sleep(max(0.0, begin + (tick + 1) * 0.1 - time.time()))
        stop_at = time.time()
        done.set()
    r.join()
    stop(sink)
    stop(src)
    lat = sorted((seen[p] - t) * 1000 for p, t in committed.items() if p in seen)
    missing = len(committed) - len(lat)
    if missing or not lat:
        raise SystemExit(f"{missing} of {len(committed)} probes never became searchable")

    def pct(q):
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)

    result = {"load_rows_per_s": RATE, "seconds": SECONDS, "probes": len(lat), "refresh": "false",
              "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": round(lat[-1], 1)}
    print(json.dumps(result), flush=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"machine": machine(), "results": [result]}, f, indent=2)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
