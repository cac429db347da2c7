"""`sluice sink` into PostgreSQL against a plain COPY of the same rows.

Run by `make bench-sink` (scripts/with-testbed starts the servers). Steps:
  1. a 5-column table (int4 key, int4, text, timestamptz, numeric(12,2)) gets BENCH_SINK_ROWS
     inserts in one transaction; `sluice source` (release build) publishes them to the bench
     broker; we wait until the topic's high watermark holds every event (untimed);
  2. a standalone `sluice registry` serves the schemas; `sluice sink` (release build, default
     batching) is timed from its start until its `sluice_offsets` in the target reach the
     topic's high watermark — start-up, consumer group join, table creation included, nothing
     subtracted. The steady-state rate is the offsets' slope between 10 % and 90 % (polled every
     50 ms). While it runs, the target backend's state is sampled (`pg_stat_activity`:
     executing a statement vs. waiting for the sink inside its transaction vs. idle between
     batches), and CPU seconds of the sink process, of its PostgreSQL backend and of the whole
     machine are recorded;
  3. the same rows (`COPY public.t TO STDOUT` from the sink's table, untimed) are loaded with
     `COPY … FROM STDIN` into an empty table of the same definition (primary key included),
     three times; the median is kept.
  4. where the server's time goes: one statement of the sink's shape (2000 rows, the sink's
     chunk) split into parse / plan / execute, against the same rows as one
     `INSERT … SELECT FROM unnest(arrays)` and as COPY (`statement_breakdown`).
Results go to docs/bench/pg_sink.json. BENCH_PERF=FILE runs the sink under `perf record`
(its CPU figures are then perf's).
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg
from confluent_kafka import Consumer, TopicPartition

TB = json.load(open(os.environ["SLUICE_TESTBED"]))
PG = TB["postgres"]
BOOTSTRAP = TB["kafka"]["bootstrap"]
SLUICE = os.environ.get("SLUICE_BIN", "target/release/sluice")
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/pg_sink.json")
ROWS = int(os.environ.get("BENCH_SINK_ROWS", "1000000"))
TAG = f"benchsink{os.getpid()}"
DDL = "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c timestamptz, d numeric(12,2))"
WORK = ("INSERT INTO t SELECT g, g % 1000, md5(g::text), '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second', "
        "(g % 100000) / 100.0 FROM generate_series(1, {n}) g")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def conn(db, autocommit=True):
    return psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname=db, autocommit=autocommit)


def proc_cpu(pid):
    """CPU seconds (user + system) and peak RSS in MB of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) // 1024
    except FileNotFoundError:
        return 0.0, 0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), rss


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def spawn(args, log_path, perf=None):
    log = open(log_path, "w")
    cmd = [SLUICE] + args
    if perf:
        cmd = ["perf", "record", "-e", "cpu-clock", "-F", "499", "-g", "-o", perf, "--"] + cmd
    return subprocess.Popen(cmd, stdout=log, stderr=log)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_http(url, p, log, timeout=60):
    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            pass
        if p.poll() is not None:
            raise SystemExit(f"sluice exited: {open(log).read()}")
        if time.time() - t0 > timeout:
            raise SystemExit(f"{url} did not answer: {open(log).read()}")
        time.sleep(0.1)


def high_water(topic):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"{TAG}.hw"})
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            return 0
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions)
    finally:
        c.close()


def write_source_config(path, db, registry_port, slot, extra=""):
    """A `sluice source` config for database `db` of the bench's PostgreSQL: topic prefix TAG,
    slot and publication `slot`, `extra` lines in `[source]`, the built-in registry on
    `registry_port` storing its schemas in `<TAG>._schemas`."""
    with open(path, "w") as f:
        f.write(f"""[log]
level = "warn"
[source]
type = "postgres"
topic_prefix = "{TAG}"
slot = "{slot}"
publication = "{slot}"
heartbeat_interval_secs = 1
{extra}
[source.connection]
host = "{PG['host']}"
port = {PG['port']}
user = "{PG['user']}"
database = "{db}"
[kafka]
bootstrap_servers = "{BOOTSTRAP}"
state_topic = "{TAG}.state"
[registry]
listen = "127.0.0.1:{registry_port}"
topic = "{TAG}._schemas"
""")


def publish(work_dir):
    """Write the rows at the source and wait until every event is in the topic. Untimed."""
    db = f"{TAG}_src"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    with conn(db) as c:
        c.execute(DDL)
        c.execute("CREATE PUBLICATION bench FOR ALL TABLES")
        c.execute("SELECT pg_create_logical_replication_slot('bench', 'pgoutput')")
        c.execute(WORK.format(n=ROWS))
    port = free_port()
    schemas = f"{TAG}._schemas"
    cfg = os.path.join(work_dir, "source.toml")
    write_source_config(cfg, db, port, "bench", 'migration_type = "cdc"')
    log = os.path.join(work_dir, "source.log")
    src = spawn(["source", "--config", cfg], log)
    topic = f"{TAG}.public.t"
    t0 = time.time()
    while high_water(topic) < ROWS:
        if src.poll() is not None:
            raise SystemExit(f"sluice source exited: {open(log).read()}")
        if time.time() - t0 > 1800:
            raise SystemExit("the source did not publish every row in 30 min")
        time.sleep(0.5)
    publish_s = time.time() - t0
    stop(src)
    with conn(db) as c:
        c.execute("SELECT pg_drop_replication_slot('bench')")
    return topic, schemas, publish_s


def run_sink(work_dir, topic, schemas, end):
    """Time `sluice sink` until its stored offsets reach `end`."""
    reg_port, http_port = free_port(), free_port()
    reg_log = os.path.join(work_dir, "registry.log")
    reg = spawn(["registry", "--listen", f"127.0.0.1:{reg_port}", "--kafka", BOOTSTRAP, "--topic", schemas], reg_log)
    wait_http(f"http://127.0.0.1:{reg_port}/subjects", reg, reg_log)
    db = f"{TAG}_dst"
    with conn("postgres") as c:
        c.execute(f"CREATE DATABASE {db}")
    cfg = os.path.join(work_dir, "sink.toml")
    with open(cfg, "w") as f:
        f.write(f"""[log]
level = "warn"
[http]
listen = "127.0.0.1:{http_port}"
[sink]
type = "postgres"
name = "bench"
group_id = "{TAG}.sink"
topics = ["{topic}"]
[sink.connection]
host = "{PG['host']}"
port = {PG['port']}
user = "{PG['user']}"
database = "{db}"
[kafka]
bootstrap_servers = "{BOOTSTRAP}"
[kafka.properties]
# noida-db answers a fetch with everything from the offset on, ignoring fetch.max.bytes:
# a filled topic needs a larger receive limit than librdkafka's 100 MB.
"receive.message.max.bytes" = "{os.environ.get("BENCH_RECEIVE_MAX_BYTES", "1000000000")}"
[registry]
url = "http://127.0.0.1:{reg_port}"
""")
    log = os.path.join(work_dir, "sink.log")
    poll = conn(db)
    states = {}
    samples = []
    backend_pid = None
    busy0, total0 = machine_ticks()
    t0 = time.time()
    sink = spawn(["sink", "--config", cfg], log, os.environ.get("BENCH_PERF"))
    cpu = rss = backend_cpu = 0.0
    while True:
        now = time.time() - t0
        try:
            applied = poll.execute("SELECT coalesce(sum(next_offset), 0) FROM sluice_offsets WHERE sink_name = 'bench'").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            applied = 0
        samples.append((now, int(applied)))
        for pid, state in poll.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchall():
            backend_pid = pid
            states[state] = states.get(state, 0) + 1
        cpu, rss = proc_cpu(sink.pid)
        if backend_pid:
            backend_cpu = max(backend_cpu, proc_cpu(backend_pid)[0])
        if applied >= end:
            break
        if sink.poll() is not None:
            raise SystemExit(f"sluice sink exited: {open(log).read()}")
        if now > 1800:
            raise SystemExit("the sink did not finish in 30 min")
        time.sleep(0.05)
    secs = time.time() - t0
    busy1, total1 = machine_ticks()
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5).read().decode()
    stop(sink)
    stop(reg)
    poll.close()

    def at(fraction):
        return next(t for t, n in samples if n >= fraction * end)
    t10, t90 = at(0.1), at(0.9)
    batch_sum = batch_count = 0.0
    for line in metrics.splitlines():
        if line.startswith("sluice_sink_batch_duration_seconds_sum"):
            batch_sum = float(line.split()[-1])
        elif line.startswith("sluice_sink_batch_duration_seconds_count"):
            batch_count = float(line.split()[-1])
    n_states = sum(states.values()) or 1
    return db, {
        "seconds": round(secs, 2), "rows_per_s": round(ROWS / secs),
        "steady_rows_per_s_10_to_90": round(0.8 * end / (t90 - t10)),
        "first_rows_applied_after_s": round(next(t for t, n in samples if n > 0), 2),
        "cpu_s_per_million": round(cpu / ROWS * 1e6, 2), "peak_rss_mb": rss,
        "target_backend_cpu_s_per_million": round(backend_cpu / ROWS * 1e6, 2),
        "machine_busy_fraction": round((busy1 - busy0) / max(1, total1 - total0), 2),
        "batches": int(batch_count),
        "mean_batch_ms": round(batch_sum / batch_count * 1000, 1) if batch_count else None,
        "share_of_wall_in_batches": round(batch_sum / secs, 2),
        "target_backend_states": {k: round(v / n_states, 2) for k, v in sorted(states.items())},
    }


def run_copy(db):
    """COPY the sink's rows into an empty table of the same definition; median of 3."""
    with conn(db) as c:
        buf = bytearray()
        with c.cursor().copy("COPY public.t TO STDOUT") as cp:
            for chunk in cp:
                buf += chunk
        assert c.execute("SELECT count(*) FROM public.t").fetchone()[0] == ROWS
    runs = []
    for _ in range(3):
        with conn(db) as c:
            c.execute("DROP TABLE IF EXISTS public.t_copy")
            c.execute("CREATE TABLE public.t_copy (LIKE public.t INCLUDING ALL)")
        with conn(db, autocommit=False) as c:
            backend = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            c.commit()
            cpu0 = proc_cpu(backend)[0]
            t0 = time.time()
            with c.cursor().copy("COPY public.t_copy FROM STDIN") as cp:
                for i in range(0, len(buf), 1 << 20):
                    cp.write(buf[i:i + (1 << 20)])
            c.commit()
            secs = time.time() - t0
            cpu = proc_cpu(backend)[0] - cpu0
        runs.append((secs, cpu))
    secs, cpu = sorted(runs)[1]
    return {"seconds": round(secs, 2), "rows_per_s": round(ROWS / secs),
            "backend_cpu_s_per_million": round(cpu / ROWS * 1e6, 2),
            "runs_seconds": [round(s, 2) for s, _ in runs], "bytes": len(buf)}


def statement_breakdown(db, n=2000, repeat=5):
    """Server-side cost of `n` rows (one statement of the sink's default chunk) into an empty
    table, medians of `repeat` runs:
      - `sink`: the statement shape the sink sends (multi-row VALUES of `$k::text::type`,
        ON CONFLICT DO UPDATE; an unnamed statement, so parsed and planned every time);
      - `unnest`: the same rows as `INSERT … SELECT FROM unnest($1::text[], …) ON CONFLICT DO
        UPDATE` (one array parameter per column: a statement that could be prepared once);
      - `copy`: COPY of the same rows (wall time, client round trip included).
    Parse + analyze is the wall time of `PREPARE` (one local round trip included); planning and
    execution come from `EXPLAIN (ANALYZE, SUMMARY) EXECUTE`."""
    with conn(db) as c:
        cols = c.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                         "WHERE attrelid = 'public.t'::regclass AND attnum > 0 ORDER BY attnum").fetchall()
        names = [f'"{a}"' for a, _ in cols]
        rows = c.execute(f"SELECT {', '.join(f'{x}::text' for x in names)} FROM public.t ORDER BY 1 LIMIT {n}").fetchall()
        conflict = f'ON CONFLICT ({names[0]}) DO UPDATE SET ' + ", ".join(f"{x} = EXCLUDED.{x}" for x in names[1:])
        into = f'INSERT INTO public.t_stmt ({", ".join(names)})'
        width = len(cols)
        sink_sql = (f"{into} VALUES " + ",".join(
            "(" + ",".join(f"${i * width + j + 1}::text::{ty}" for j, (_, ty) in enumerate(cols)) + ")"
            for i in range(len(rows))) + f" {conflict}")
        sink_args = [v for r in rows for v in r]
        unnest_sql = (f"{into} SELECT " + ", ".join(f"x{j}::{ty}" for j, (_, ty) in enumerate(cols))
                      + " FROM unnest(" + ", ".join(f"${j + 1}" for j in range(width)) + ") AS u("
                      + ", ".join(f"x{j}" for j in range(width)) + f") {conflict}")
        unnest_args = [[r[j] for r in rows] for j in range(width)]
        literal = psycopg.ClientCursor(c)

        def fresh():
            c.execute("DROP TABLE IF EXISTS public.t_stmt")
            c.execute("CREATE TABLE public.t_stmt (LIKE public.t INCLUDING ALL)")

        def server_cost(sql, arg_types, args):
            parse, plan, execute = [], [], []
            for k in range(repeat):
                fresh()
                t0 = time.perf_counter()
                c.execute(f"PREPARE s({', '.join(arg_types)}) AS {sql}")
                parse.append((time.perf_counter() - t0) * 1000)
                placeholders = ", ".join("%s" for _ in args)
                for (line,) in literal.execute(f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY) EXECUTE s({placeholders})", args):
                    if line.startswith("Planning Time"):
                        plan.append(float(line.split()[2]))
                    elif line.startswith("Execution Time"):
                        execute.append(float(line.split()[2]))
                c.execute("DEALLOCATE s")
            med = [round(statistics.median(x), 1) for x in (parse, plan, execute)]
            return {"parse_analyze_ms": med[0], "plan_ms": med[1], "execute_ms": med[2], "total_ms": round(sum(med), 1)}

        sink = server_cost(sink_sql, ["text"] * len(sink_args), sink_args)
        unnest = server_cost(unnest_sql, ["text[]"] * width, unnest_args)
        text = "".join("\t".join("\\N" if v is None else v for v in r) + "\n" for r in rows)
        copies = []
        for _ in range(repeat):
            fresh()
            t0 = time.perf_counter()
            with c.cursor().copy("COPY public.t_stmt FROM STDIN") as cp:
                cp.write(text)
            copies.append((time.perf_counter() - t0) * 1000)
        c.execute("DROP TABLE IF EXISTS public.t_stmt")
    return {"rows": len(rows), "sink_parameters": len(sink_args), "sink": sink, "unnest": unnest,
            "copy_wall_ms": round(statistics.median(copies), 1)}


def main():
    work_dir = tempfile.mkdtemp(prefix="sluice-bench-sink-")
    load_before = os.getloadavg()
    topic, schemas, publish_s = publish(work_dir)
    end = high_water(topic)
    print(f"{end} events in {topic} (published in {publish_s:.1f} s)", flush=True)
    load_at_sink = os.getloadavg()
    db, sink = run_sink(work_dir, topic, schemas, end)
    print(json.dumps({"sink": sink}), flush=True)
    copy = run_copy(db)
    print(json.dumps({"copy": copy}), flush=True)
    breakdown = statement_breakdown(db)
    print(json.dumps({"statement_breakdown": breakdown}), flush=True)
    result = {
        "workload": f"{ROWS} inserts, 5 columns (int4 key, int4, text, timestamptz, numeric(12,2))",
        "events": end, "sink": sink, "copy": copy, "statement_breakdown_2000_rows": breakdown,
        "ratio_sink_to_copy": round(sink["rows_per_s"] / copy["rows_per_s"], 3),
        "ratio_steady_sink_to_copy": round(sink["steady_rows_per_s_10_to_90"] / copy["rows_per_s"], 3),
    }
    machine = {"cpus": os.cpu_count(), "kernel": os.uname().release, "broker": TB["kafka"]["flavor"],
               "postgres": PG["bin_dir"], "date": time.strftime("%Y-%m-%d"),
               "loadavg_before": [round(x, 2) for x in load_before],
               "loadavg_at_sink_start": [round(x, 2) for x in load_at_sink],
               "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"machine": machine, "results": [result]}, f, indent=2)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
