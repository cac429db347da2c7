"""Sluice's PostgreSQL source against pg_recvlogical on the same workload.

Run by `make bench-pg` (scripts/with-testbed starts the servers). For each workload it creates
two pgoutput slots before writing, runs the workload, then times
  - pg_recvlogical reading the first slot to the workload's end LSN (the raw rate at which the
    server decodes and sends one slot's changes: the limit for any reader of one slot), and
  - `sluice source` (release build) from the second slot until the slot's confirmed_flush_lsn
    reaches that end LSN, which Sluice advances only after the broker acknowledged every event
    (WAL → Avro → broker acknowledgement),
and records rows/s, CPU seconds per million rows and peak RSS in docs/bench/pg_source.json.
"""
import json
import os
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
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/pg_source.json")

WORKLOADS = [
    # name, setup SQL, workload SQL, rows
    ("small rows, 1 transaction", "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c timestamptz)",
     "INSERT INTO t SELECT g, g % 1000, md5(g::text), now() FROM generate_series(1, {n}) g", int(os.environ.get("BENCH_ROWS", "1000000"))),
    ("small rows, 10-row transactions", "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c timestamptz)",
     "DO $$ BEGIN FOR i IN 0..{txns} LOOP INSERT INTO t SELECT g, g % 1000, md5(g::text), now() FROM generate_series(i*10+1, i*10+10) g; COMMIT; END LOOP; END $$",
     int(os.environ.get("BENCH_TXN_ROWS", "200000"))),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def conn(db):
    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname=db, autocommit=True)


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) // 1024
    return cpu, rss


def lsn_int(lsn):
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def run_workload(idx, name, setup, work, n):
    db = f"bench{idx}_{os.getpid()}"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    with conn(db) as c:
        c.execute(setup)
        c.execute("CREATE PUBLICATION bench FOR ALL TABLES")
        c.execute(f"SELECT pg_create_logical_replication_slot('recv{idx}', 'pgoutput')")
        c.execute(f"SELECT pg_create_logical_replication_slot('sluice{idx}', 'pgoutput')")
        t0 = time.time()
        c.execute(work.format(n=n, txns=n // 10 - 1))
        end_lsn = c.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        write_s = time.time() - t0
    result = {"workload": name, "rows": n, "write_seconds": round(write_s, 2), "end_lsn": end_lsn}

    # pg_recvlogical: the server's raw rate for one slot.
    t0 = time.time()
    p = subprocess.Popen([f"{BIN_DIR}/pg_recvlogical", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"], "-d", db,
                          "--slot", f"recv{idx}", "--start", "-o", "proto_version=2", "-o", "streaming=on",
                          "-o", "publication_names=bench", "-f", "/dev/null", f"--endpos={end_lsn}"])
    ru = os.wait4(p.pid, 0)[2]
    secs = time.time() - t0
    result["pg_recvlogical"] = {"seconds": round(secs, 2), "rows_per_s": round(n / secs),
                                "cpu_s_per_million": round((ru.ru_utime + ru.ru_stime) / n * 1e6, 2),
                                "peak_rss_mb": ru.ru_maxrss // 1024}

    # Sluice: WAL → Avro → broker acknowledgement, measured at the slot.
    work_dir = tempfile.mkdtemp(prefix="sluice-bench-")
    reg = free_port()
    cfg = os.path.join(work_dir, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""[log]
level = "warn"
[source]
type = "postgres"
topic_prefix = "bench{idx}_{os.getpid()}"
slot = "sluice{idx}"
migration_type = "cdc"
publication = "bench"
heartbeat_interval_secs = 1
[source.connection]
host = "{PG['host']}"
port = {PG['port']}
user = "{PG['user']}"
database = "{db}"
[kafka]
bootstrap_servers = "{TB['kafka']['bootstrap']}"
state_topic = "bench.state.{os.getpid()}"
[kafka.producer]
linger_ms = {os.environ.get("BENCH_LINGER_MS", "5")}
[registry]
listen = "127.0.0.1:{reg}"
topic = "bench._schemas.{idx}.{os.getpid()}"
""")
    log = open(os.path.join(work_dir, "source.log"), "w")
    t0 = time.time()
    cmd = [SLUICE, "source", "--config", cfg]
    if os.environ.get("BENCH_PERF"):
        # Profile Sluice itself: docs/benchmarks.md lists where the time goes.
        cmd = ["perf", "record", "-e", "cpu-clock", "-F", "499", "-g", "-o", f"{os.environ['BENCH_PERF']}.{idx}", "--"] + cmd
    sp = subprocess.Popen(cmd, stdout=log, stderr=log)
    target = lsn_int(end_lsn)
    cpu = rss = 0
    with conn(db) as c:
        while True:
            confirmed = c.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (f"sluice{idx}",)).fetchone()[0]
            cpu, rss = proc_stats(sp.pid)
            if lsn_int(confirmed) >= target:
                break
            if sp.poll() is not None:
                raise SystemExit(f"sluice exited: {open(log.name).read()}")
            if time.time() - t0 > 1800:
                raise SystemExit("sluice did not finish in 30 min")
            time.sleep(0.05)
    secs = time.time() - t0
    sp.send_signal(2)
    sp.wait()
    result["sluice"] = {"seconds": round(secs, 2), "rows_per_s": round(n / secs),
                        "cpu_s_per_million": round(cpu / n * 1e6, 2), "peak_rss_mb": rss}
    result["ratio_sluice_to_pg_recvlogical"] = round(result["sluice"]["rows_per_s"] / result["pg_recvlogical"]["rows_per_s"], 2)
    with conn(db) as c:
        c.execute(f"SELECT pg_drop_replication_slot('recv{idx}')")
        c.execute(f"SELECT pg_drop_replication_slot('sluice{idx}')")
    print(json.dumps(result), flush=True)
    return result


def main():
    results = [run_workload(i, *w) for i, w in enumerate(WORKLOADS)]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    machine = {"cpus": os.cpu_count(), "kernel": os.uname().release,
               "broker": TB["kafka"]["flavor"], "date": time.strftime("%Y-%m-%d")}
    with open(OUT, "w") as f:
        json.dump({"machine": machine, "results": results}, f, indent=2)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
