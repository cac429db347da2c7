"""Shared harness of the document/key-value target benches (bench/redis_sink.py,
bench/mongodb_sink.py, bench/dynamodb_sink.py): time `sluice sink` of one target over the
topic bench/pg_sink.py publishes.

`time_sink` starts a registry, writes the sink config (`[sink] type`, the target's own settings),
starts `sluice sink` (release build) and polls `applied()` — the sum of the offsets the target
stores — until it reaches the topic's high watermark. Timed from the sink's start (group join
included); steady state = the slope between 10 % and 90 %; CPU seconds of the sink and of the
target's server process are per 1M rows.
"""
import os
import subprocess
import time

import pg_sink
from pg_sink import BOOTSTRAP, TAG, free_port, machine_ticks, proc_cpu, spawn, stop, wait_http


def server_pid(pattern):
    """The pid of the target's server process (matched on its command line), or None."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()

    def wrapper(pid):  # the test bench starts the broker under a `bash -c` that logs its exit
        try:
            return open(f"/proc/{pid}/comm").read().strip() in ("bash", "sh")
        except OSError:
            return True
    out = [p for p in out if not wrapper(p)]
    return int(out[0]) if out else None


def time_sink(work_dir, topic, schemas, end, kind, settings, applied, server=None):
    """Run `sluice sink` with `type = kind` and `settings` (TOML lines of [sink] keys, then any
    [sink.connection] table) until `applied()` >= `end`; returns the timing record."""
    reg_port, http_port = free_port(), free_port()
    reg_log = os.path.join(work_dir, f"registry-{kind}.log")
    reg = spawn(["registry", "--listen", f"127.0.0.1:{reg_port}", "--kafka", BOOTSTRAP, "--topic", schemas], reg_log)
    wait_http(f"http://127.0.0.1:{reg_port}/subjects", reg, reg_log)
    sink_keys, _, tables = settings.partition("\n[")
    cfg = os.path.join(work_dir, f"sink-{kind}.toml")
    with open(cfg, "w") as f:
        f.write(f"""[log]
level = "warn"
[http]
listen = "127.0.0.1:{http_port}"
[sink]
type = "{kind}"
name = "bench"
group_id = "{TAG}.{kind}"
topics = ["{topic}"]
{sink_keys}
{"[" + tables if tables else ""}
[kafka]
bootstrap_servers = "{BOOTSTRAP}"
[kafka.properties]
"receive.message.max.bytes" = "{os.environ.get("BENCH_RECEIVE_MAX_BYTES", "1000000000")}"
{os.environ.get("BENCH_KAFKA_PROPERTIES", "")}
[registry]
url = "http://127.0.0.1:{reg_port}"
""")
    log = os.path.join(work_dir, f"sink-{kind}.log")
    server_cpu0 = proc_cpu(server)[0] if server else 0.0
    port = BOOTSTRAP.rsplit(":", 1)[1]
    broker = server_pid(f"kafka-port {port} ") or server_pid(f"tansu.*{port}")
    broker_cpu0 = proc_cpu(broker)[0] if broker else 0.0
    busy0, total0 = machine_ticks()
    samples = []
    t0 = time.time()
    # BENCH_PERF_<KIND>=FILE (e.g. BENCH_PERF_S3): run this sink under `perf record`.
    sink = spawn(["sink", "--config", cfg], log, os.environ.get(f"BENCH_PERF_{kind.upper()}"))
    cpu = rss = 0.0
    while True:
        now = time.time() - t0
        done = applied()
        samples.append((now, done))
        cpu, rss = proc_cpu(sink.pid)
        if done >= end:
            break
        if sink.poll() is not None:
            raise SystemExit(f"sluice sink exited: {open(log).read()}")
        if now > 1800:
            raise SystemExit("the sink did not finish in 30 min")
        time.sleep(0.05)
    secs = time.time() - t0
    busy1, total1 = machine_ticks()
    server_cpu = (proc_cpu(server)[0] - server_cpu0) if server else 0.0
    broker_cpu = (proc_cpu(broker)[0] - broker_cpu0) if broker else 0.0
    stop(sink)
    stop(reg)

    def at(fraction):
        return next(t for t, n in samples if n >= fraction * end)

    t10, t90 = at(0.1), at(0.9)
    return {
        "seconds": round(secs, 2),
        "rows_per_s": round(end / secs),
        "steady_rows_per_s_10_to_90": round(0.8 * end / max(t90 - t10, 1e-9)),
        "cpu_s_per_million": round(cpu / end * 1e6, 2),
        "server_cpu_s_per_million": round(server_cpu / end * 1e6, 2),
        # The broker serving the sink's fetches shares the machine with the target's server.
        "broker_cpu_s_per_million": round(broker_cpu / end * 1e6, 2),
        "peak_rss_mb": rss,
        "machine_busy_fraction": round((busy1 - busy0) / max(total1 - total0, 1), 2),
    }


def bench_rows(n):
    """The bench table's rows (bench/pg_sink.py): id, a, b, c (UTC seconds), d (cents)."""
    import hashlib
    for g in range(1, n + 1):
        yield g, g % 1000, hashlib.md5(str(g).encode()).hexdigest(), 1704067200 + g, g % 100000


def machine():
    return {"cpus": os.cpu_count(), "kernel": os.uname().release, "broker": pg_sink.TB["kafka"]["flavor"],
            "date": time.strftime("%Y-%m-%d"), "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def run_bench(kind, out, shape, run_sink, check, baseline, name, short):
    """The flow every target bench shares: publish (untimed), time the sink, check the sink wrote
    what the baseline writes, run the `baseline(n)` bulk write (a record, or a list of records —
    the fastest counts), and write `out` with it under `name` and the ratios sink / baseline
    as `ratio_sink_to_<short>`."""
    import json
    import tempfile

    from pg_sink import high_water, publish

    work_dir = tempfile.mkdtemp(prefix=f"sluice-bench-{kind}-")
    topic, schemas, publish_s = publish(work_dir)
    end = high_water(topic)
    print(f"{end} events in {topic} (published in {publish_s:.1f} s)", flush=True)
    sink = run_sink(work_dir, topic, schemas, end)
    print(json.dumps({"sink": sink}), flush=True)
    check(end)
    base = baseline(end)
    print(json.dumps({name: base}), flush=True)
    best = max(base, key=lambda r: r["rows_per_s"]) if isinstance(base, list) else base
    result = {
        "workload": f"{end} inserts, 5 columns (int4 key, int4, text, timestamptz, numeric(12,2)) → {shape}",
        "sink": sink,
        name: base,
        f"ratio_sink_to_{short}": round(sink["rows_per_s"] / best["rows_per_s"], 3),
        f"ratio_steady_sink_to_{short}": round(sink["steady_rows_per_s_10_to_90"] / best["rows_per_s"], 3),
    }
    print(json.dumps({f"ratio_sink_to_{short}": result[f"ratio_sink_to_{short}"]}), flush=True)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"machine": machine(), "results": [result]}, f, indent=2)
        f.write("\n")
    print(f"wrote {out}")
