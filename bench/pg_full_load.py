"""Sluice's full load against a raw COPY read of the same table.

Run by `make bench-full-load` (scripts/with-testbed starts the servers). It fills a table with
BENCH_ROWS rows (default 1,000,000), then times
  - `psql -c "COPY (SELECT * FROM t) TO STDOUT" > /dev/null`: the rate at which the server reads
    and sends the table over one connection (the raw read any copy starts from), and
  - `sluice source` (release build) with `migration_type = "full-load"` from process start to its
    exit 0, which happens only after the broker acknowledged every row
    (snapshot → COPY → Avro → broker acknowledgement, BENCH_WORKERS connections),
and records rows/s, the ratio, CPU seconds per million rows and peak RSS in
docs/bench/pg_full_load.json.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import psycopg

TB = json.load(open(os.environ["SLUICE_TESTBED"]))
PG = TB["postgres"]
BIN_DIR = PG["bin_dir"]
SLUICE = os.environ.get("SLUICE_BIN", "target/release/sluice")
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/pg_full_load.json")
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
WORKERS = [int(w) for w in os.environ.get("BENCH_WORKERS", "1,2").split(",")]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def conn(db):
    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname=db, autocommit=True)


def raw_copy(db):
    t0 = time.time()
    with open(os.devnull, "w") as null:
        p = subprocess.Popen([f"{BIN_DIR}/psql", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"], "-d", db,
                              "-X", "-q", "-c", "COPY (SELECT * FROM t) TO STDOUT"], stdout=null)
        ru = os.wait4(p.pid, 0)[2]
    secs = time.time() - t0
    return {"seconds": round(secs, 2), "rows_per_s": round(ROWS / secs),
            "client_cpu_s_per_million": round((ru.ru_utime + ru.ru_stime) / ROWS * 1e6, 2)}


def sluice_full_load(db, workers, run):
    work_dir = tempfile.mkdtemp(prefix="sluice-bench-")
    reg = free_port()
    cfg = os.path.join(work_dir, "sluice.toml")
    prefix = f"flbench{run}_{os.getpid()}"
    with open(cfg, "w") as f:
        f.write(f"""[log]
level = "info"
[source]
type = "postgres"
topic_prefix = "{prefix}"
migration_type = "full-load"
snapshot_workers = {workers}
[source.connection]
host = "{PG['host']}"
port = {PG['port']}
user = "{PG['user']}"
database = "{db}"
[kafka]
bootstrap_servers = "{TB['kafka']['bootstrap']}"
state_topic = "{prefix}.state"
[kafka.producer]
linger_ms = {os.environ.get("BENCH_LINGER_MS", "5")}
[registry]
listen = "127.0.0.1:{reg}"
topic = "{prefix}._schemas"
""")
    log_path = os.path.join(work_dir, "source.log")
    with open(log_path, "w") as log:
        t0 = time.time()
        p = subprocess.Popen([SLUICE, "source", "--config", cfg], stdout=log, stderr=log)
        ru = os.wait4(p.pid, 0)
        secs = time.time() - t0
    text = re.sub(r"\x1b\[[0-9;]*m", "", open(log_path).read())
    if ru[1] != 0:
        raise SystemExit(f"sluice failed:\n{text}")
    # The load itself (snapshot open → last acknowledgement), as logged by Sluice.
    m = re.search(r"full load complete.*?rows_per_sec=(\d+)", text)
    usage = ru[2]
    return {"workers": workers, "seconds_to_exit": round(secs, 2), "rows_per_s": round(ROWS / secs),
            "load_rows_per_s_logged": int(m.group(1)) if m else None,
            "cpu_s_per_million": round((usage.ru_utime + usage.ru_stime) / ROWS * 1e6, 2),
            "peak_rss_mb": usage.ru_maxrss // 1024}


def main():
    db = f"flbench_{os.getpid()}"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    with conn(db) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, a int, b text, c timestamptz)")
        c.execute(f"INSERT INTO t SELECT g, g % 1000, md5(g::text), now() FROM generate_series(1, {ROWS}) g")
        c.execute("VACUUM ANALYZE t")
    raw_copy(db)  # warm the cache
    raw = raw_copy(db)
    print(json.dumps({"raw_copy": raw}), flush=True)
    results = []
    for i, w in enumerate(WORKERS):
        r = sluice_full_load(db, w, i)
        r["ratio_sluice_to_raw_copy"] = round(r["rows_per_s"] / raw["rows_per_s"], 2)
        print(json.dumps(r), flush=True)
        results.append(r)
    with conn("postgres") as c:
        c.execute(f"DROP DATABASE {db}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    machine = {"cpus": os.cpu_count(), "kernel": os.uname().release, "loadavg_1m": os.getloadavg()[0],
               "broker": TB["kafka"]["flavor"], "date": time.strftime("%Y-%m-%d")}
    with open(OUT, "w") as f:
        json.dump({"machine": machine, "rows": ROWS, "raw_copy": raw, "sluice": results}, f, indent=2)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
