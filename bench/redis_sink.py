"""`sluice sink` into Redis against a redis-py pipeline writing the same rows.

Run by `make bench-redis` (scripts/with-testbed starts the servers, Redis included). Steps:
  1. the PostgreSQL table of bench/pg_sink.py (int4 key, int4, text, timestamptz,
     numeric(12,2)) gets BENCH_SINK_ROWS inserts; `sluice source` (release build) publishes them
     (untimed, shared with bench/pg_sink.py);
  2. `sluice sink` with `type = "redis"` (release build, default batching) is timed from its
     start until the offsets hash `sluice:offsets:bench` reaches the topic's high watermark —
     start-up and group join included; steady state = the offsets' slope between 10 % and 90 %;
     CPU seconds of the sink process and of redis-server are recorded;
  3. the bulk baseline: the same rows, as the same hashes (same field text), written by redis-py
     in a non-transactional pipeline of 10,000 `HSET`s per round trip, three times (each under a
     fresh prefix); the median is kept. The ratio sink / pipeline is the figure the Redis target
     is held to (goal ≥ 0.7).
Results go to docs/bench/redis_sink.json.
"""
import os
import statistics
import sys
import time

import redis

import pg_sink
from pg_sink import TAG
from target_sink import run_bench, server_pid, time_sink

TB = pg_sink.TB
URL = f"redis://{TB['redis']['host']}:{TB['redis']['port']}/0"
OUT = os.environ.get("SLUICE_BENCH_OUT", "docs/bench/redis_sink.json")


def run_sink(work_dir, topic, schemas, end):
    r = redis.Redis.from_url(URL)
    r.delete("sluice:offsets:bench")
    settings = f"""key_pattern = "{TAG}.sink.{{table}}"
[sink.connection]
url = "{URL}"
"""
    applied = lambda: sum(int(v) for v in r.hvals("sluice:offsets:bench"))
    result = time_sink(work_dir, topic, schemas, end, "redis", settings, applied,
                       server_pid(f"redis-server.*:{TB['redis']['port']}"))
    result["redis_server_cpu_s_per_million"] = result.pop("server_cpu_s_per_million")
    return result


def rows(n):
    """The bench rows as the Redis target writes them (docs/sinks.md, Redis target)."""
    import hashlib
    for g in range(1, n + 1):
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(1704067200 + g))
        cents = g % 100000
        yield str(g), {
            "id": str(g),
            "a": str(g % 1000),
            "b": hashlib.md5(str(g).encode()).hexdigest(),
            "c": f"{ts}.000000+00:00",
            "d": f"{cents // 100}.{cents % 100:02d}",
        }


def run_pipeline(n):
    """redis-py, one pipeline round trip per 10,000 HSETs; median of three runs."""
    r = redis.Redis.from_url(URL)
    data = list(rows(n))
    runs = []
    for run in range(3):
        prefix = f"{TAG}.bulk{run}.t"
        t0 = time.time()
        pipe = r.pipeline(transaction=False)
        for i, (key, mapping) in enumerate(data, 1):
            pipe.hset(f"{prefix}:{key}", mapping=mapping)
            if i % 10000 == 0:
                pipe.execute()
        pipe.execute()
        runs.append(time.time() - t0)
    secs = statistics.median(runs)
    return {"seconds": round(secs, 2), "rows_per_s": round(n / secs), "runs_seconds": [round(x, 2) for x in runs]}


def check_same_text(n):
    """The bulk rows must be what the sink wrote (same fields, same text): sample 100 keys."""
    r = redis.Redis.from_url(URL)
    data = dict(rows(n))
    for g in range(1, n + 1, max(n // 100, 1)):
        got = {k.decode(): v.decode() for k, v in r.hgetall(f"{TAG}.sink.t:{g}").items()}
        if got != data[str(g)]:
            raise SystemExit(f"row {g}: sink wrote {got}, the baseline writes {data[str(g)]}")


def main():
    run_bench("redis", OUT, "one hash per row", run_sink, check_same_text, run_pipeline, "redis_py_pipeline", "pipeline")


if __name__ == "__main__":
    sys.exit(main())
