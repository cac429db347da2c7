"""Sluice's MariaDB binlog source against python-mysql-replication on the same binlog (issue 7).

Run by `make bench-mysql` (scripts/with-testbed starts MariaDB and the broker). For each workload
it records the binlog position, writes the rows, and then times, over exactly that binlog range:
  - python-mysql-replication (installed into the bench venv at run time, never committed):
    BinLogStreamReader from the start position, every row's values materialised as dicts, until
    the range is read. It decodes only: no encoding, no broker. It is the tool Python users pick.
  - `sluice source` (release build, `migration_type = "cdc"`, `cdc_start_position` = the start):
    binlog → change events → Avro → broker, until the broker's high watermark holds every row
    (each record counted there is acknowledged to the producer).
It records rows/s, CPU seconds per million rows, peak RSS and the ratio in
docs/bench/mysql_source.json. Writes go through the server's own `mariadb` client.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

TB = json.load(open(os.environ["SLUICE_TESTBED"]))
MY = TB["mariadb"]
SLUICE = os.environ.get("SLUICE_BIN", "target/release/sluice")
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/mysql_source.json")
PMR = "mysql-replication==1.0.17"

ROWS = int(os.environ.get("BENCH_MY_ROWS", "1000000"))
TXN_ROWS = int(os.environ.get("BENCH_MY_TXN_ROWS", "500000"))
TABLE = ("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(40), n BIGINT, at DATETIME(6), "
         "amount DECIMAL(12,2))")
WORKLOADS = [
    # name, rows, rows per transaction
    ("small rows, 1000-row transactions", ROWS, 1000),
    ("small rows, 10-row transactions", TXN_ROWS, 10),
]

READER = r"""
import resource, sys, time
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent
host, port, user, db, file, pos, want = sys.argv[1:8]
want = int(want)
t0 = time.time()
stream = BinLogStreamReader(
    connection_settings={"host": host, "port": int(port), "user": user, "passwd": ""},
    server_id=7311, log_file=file, log_pos=int(pos), resume_stream=True, blocking=True,
    only_events=[WriteRowsEvent], only_schemas=[db], is_mariadb=True)
rows = 0
for ev in stream:
    for row in ev.rows:
        _ = row["values"]
        rows += 1
    if rows >= want:
        break
stream.close()
print(rows, time.time() - t0)
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sql(db, statement):
    """Run statements with the server's own client; returns stdout."""
    args = ["mariadb", "--no-defaults", "--protocol=TCP", "-h", MY["host"], "-P", str(MY["port"]),
            "-u", MY["user"], "-N", "-B"]
    if db:
        args.append(db)
    return subprocess.run(args, input=statement, text=True, check=True, capture_output=True).stdout


def master_status():
    file, pos = sql(None, "SHOW MASTER STATUS").split()[:2]
    return file, int(pos)


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


def ensure_pmr():
    try:
        import pymysqlreplication  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", PMR], check=True)


def high_watermark(consumer, topic):
    from confluent_kafka import TopicPartition
    md = consumer.list_topics(topic, timeout=5).topics.get(topic)
    if md is None or md.error is not None:
        return 0
    total = 0
    for p in md.partitions:
        total += consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
    return total


def run_workload(idx, name, n, per_txn):
    db = f"mybench{idx}_{os.getpid()}"
    sql(None, f"CREATE DATABASE {db}")
    sql(db, TABLE)
    start = master_status()
    t0 = time.time()
    stmts = []
    for first in range(1, n + 1, per_txn):
        last = min(first + per_txn - 1, n)
        stmts.append(f"INSERT INTO t SELECT seq, MD5(seq), seq * 7, NOW(6), seq / 100 FROM seq_{first}_to_{last};")
    sql(db, "\n".join(stmts))
    write_s = time.time() - t0
    end = master_status()
    result = {"workload": name, "rows": n, "rows_per_transaction": per_txn, "write_seconds": round(write_s, 2),
              "binlog": {"start": f"{start[0]}:{start[1]}", "end": f"{end[0]}:{end[1]}"}}

    # python-mysql-replication over the same range.
    t0 = time.time()
    p = subprocess.Popen([sys.executable, "-c", READER, MY["host"], str(MY["port"]), MY["user"], db,
                          start[0], str(start[1]), str(n)], stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    ru = os.wait4(p.pid, 0)[2]
    secs = time.time() - t0
    got = int(out.split()[0])
    assert got == n, f"python-mysql-replication read {got} of {n} rows"
    result["python_mysql_replication"] = {"seconds": round(secs, 2), "rows_per_s": round(n / secs),
                                          "cpu_s_per_million": round((ru.ru_utime + ru.ru_stime) / n * 1e6, 2),
                                          "peak_rss_mb": ru.ru_maxrss // 1024}

    # Sluice: binlog → Avro → broker acknowledgement.
    from confluent_kafka import Consumer
    work_dir = tempfile.mkdtemp(prefix="sluice-mybench-")
    reg = free_port()
    prefix = f"mybench{idx}_{os.getpid()}"
    cfg = os.path.join(work_dir, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""[log]
level = "warn"
[source]
type = "mysql"
topic_prefix = "{prefix}"
include_tables = ["{db}.*"]
migration_type = "cdc"
cdc_start_position = "{start[0]}:{start[1]}"
[source.connection]
host = "{MY['host']}"
port = {MY['port']}
user = "{MY['user']}"
[kafka]
bootstrap_servers = "{TB['kafka']['bootstrap']}"
state_topic = "{prefix}.state"
[kafka.producer]
linger_ms = {os.environ.get("BENCH_LINGER_MS", "5")}
[registry]
listen = "127.0.0.1:{reg}"
topic = "{prefix}._schemas"
""")
    log = open(os.path.join(work_dir, "source.log"), "w")
    consumer = Consumer({"bootstrap.servers": TB["kafka"]["bootstrap"], "group.id": f"{prefix}.watch"})
    topic = f"{prefix}.{db}.t"
    t0 = time.time()
    sp = subprocess.Popen([SLUICE, "source", "--config", cfg], stdout=log, stderr=log)
    cpu = rss = 0
    while True:
        cpu, rss = proc_stats(sp.pid)
        if high_watermark(consumer, topic) >= n:
            break
        if sp.poll() is not None:
            raise SystemExit(f"sluice exited: {open(log.name).read()}")
        if time.time() - t0 > 1800:
            raise SystemExit("sluice did not finish in 30 min")
        time.sleep(0.05)
    secs = time.time() - t0
    sp.send_signal(2)
    sp.wait()
    consumer.close()
    result["sluice"] = {"seconds": round(secs, 2), "rows_per_s": round(n / secs),
                        "cpu_s_per_million": round(cpu / n * 1e6, 2), "peak_rss_mb": rss}
    result["ratio_sluice_to_python_mysql_replication"] = round(
        result["sluice"]["rows_per_s"] / result["python_mysql_replication"]["rows_per_s"], 2)
    sql(None, f"DROP DATABASE {db}")
    print(json.dumps(result), flush=True)
    return result


def main():
    ensure_pmr()
    version = sql(None, "SELECT VERSION()").strip()
    results = [run_workload(i, *w) for i, w in enumerate(WORKLOADS)]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    machine = {"cpus": os.cpu_count(), "kernel": os.uname().release, "server": version,
               "broker": TB["kafka"]["flavor"], "python_mysql_replication": PMR.split("==")[1],
               "date": time.strftime("%Y-%m-%d")}
    with open(OUT, "w") as f:
        json.dump({"machine": machine, "results": results}, f, indent=2)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
