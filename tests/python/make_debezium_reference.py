#!/usr/bin/env python3
"""Regenerate the Debezium reference files in tests/python/reference/ (issue 24, schema parity).

For each source (postgres, mariadb) it: starts `sluice registry` on a free port with a fresh
schema topic; (re)creates database `dbzref` with reference/<src>_alltypes.sql; deletes the
reference topics left by an earlier run; runs the REAL Debezium engine (debezium_engine.py,
format avro, snapshot.mode=initial, `column.propagate.source.type=.*`,
`provide.transaction.metadata=true`, `heartbeat.interval.ms=5000`, every other setting Debezium's
default: decimal.handling.mode=precise, time.precision.mode=adaptive (PostgreSQL) /
adaptive_time_microseconds (MariaDB), binary.handling.mode=bytes, ...); once the snapshot rows
are in the broker applies reference/<src>_stream.sql (c / u / d / TOAST changes); and when the
engine went idle writes
  reference/debezium_<pg|mariadb>_schemas.json   every subject of that registry, latest version
                                                  (connect_convert.py --schemas)
  reference/debezium_<pg|mariadb>_values.jsonl   every record of the table, transaction,
                                                  heartbeat (and MariaDB schema-change) topics
                                                  through AvroConverter -> JsonConverter
                                                  (connect_convert.py)
Topic prefixes: `pgref` (PostgreSQL, slot/publication `pgref`), `mariaref` (MariaDB).

Needs: a testbed (SLUICE_TESTBED=.../testbed.json, as `scripts/testbed up` writes), the sluice
binary (--sluice, default ~/.cache/sluice/target/debug/sluice; copy it first if a build may
replace it), this interpreter with confluent-kafka (the test venv, $SLUICE_PYTHON), psql and
mysql clients, and for MariaDB the connector jar of build_debezium_mariadb.sh.

Usage: $SLUICE_PYTHON tests/python/make_debezium_reference.py [--only postgres|mariadb]
           [--sluice PATH] [--out DIR]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference")
ENGINE = os.path.join(HERE, "debezium_engine.py")
CONVERT = os.path.join(HERE, "connect_convert.py")
COMMON_PROPS = ["column.propagate.source.type=.*", "provide.transaction.metadata=true",
                "heartbeat.interval.ms=5000"]


def log(msg):
    print(f"make_debezium_reference: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(sluice, bootstrap, work, tag):
    port = free_port()
    topic = f"_schemas_ref_{tag}_{os.getpid()}_{int(time.time())}"
    logf = open(os.path.join(work, f"registry-{tag}.log"), "w")
    p = subprocess.Popen([sluice, "registry", "--listen", f"127.0.0.1:{port}", "--kafka", bootstrap,
                          "--topic", topic], stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/subjects", timeout=2).read()
            return p, url
        except OSError:
            if p.poll() is not None:
                raise SystemExit(f"registry exited; see {logf.name}")
            time.sleep(0.1)
    raise SystemExit("registry did not answer")


def topics_with(admin, prefix):
    return [t for t in admin.list_topics(timeout=10).topics
            if t == prefix or t.startswith(prefix + ".") or t == f"__debezium-heartbeat.{prefix}"]


def delete_topics(admin, prefix):
    old = topics_with(admin, prefix)
    if old:
        for t, f in admin.delete_topics(old, operation_timeout=30).items():
            f.result()
        log(f"deleted old topics {old}")
        for _ in range(100):
            if not topics_with(admin, prefix):
                break
            time.sleep(0.1)


def high_watermark(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "make-ref-hw"})
    try:
        md = c.list_topics(timeout=5)
        if topic not in md.topics or md.topics[topic].error:
            return 0
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                   for p in md.topics[topic].partitions)
    finally:
        c.close()


def run_source(src, tb, args, work):
    bootstrap = tb["kafka"]["bootstrap"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if src == "postgres":
        pg = tb["postgres"]
        base = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg["host"], "-p", str(pg["port"]),
                "-U", pg["user"]]
        env = dict(os.environ, PGPASSWORD=pg.get("password") or "")
        subprocess.run(base + ["-d", pg["database"], "-c",
                               "SELECT pg_drop_replication_slot('pgref') FROM pg_replication_slots "
                               "WHERE slot_name = 'pgref'", "-c", "DROP DATABASE IF EXISTS dbzref",
                               "-c", "CREATE DATABASE dbzref"], check=True, env=env)
        subprocess.run(base + ["-d", "dbzref", "-f", os.path.join(REF, "pg_alltypes.sql")], check=True, env=env)

        def stream():
            subprocess.run(base + ["-d", "dbzref", "-f", os.path.join(REF, "pg_stream.sql")], check=True, env=env)
        prefix, table, snap_rows, changes, name = "pgref", "public.alltypes", 2, 22, "pg"
        engine = ["--connector", "postgres", "--host", pg["host"], "--port", str(pg["port"]),
                  "--user", pg["user"], "--password", pg.get("password") or "", "--dbname", "dbzref",
                  "--slot", "pgref", "--publication", "pgref", "--drop-slot"]
        extra_topics = []
    else:
        my = tb["mariadb"]
        base = ["mysql", "--default-character-set=utf8mb4", "-h", my["host"], "-P", str(my["port"]),
                "-u", my["user"]] + ([f"-p{my['password']}"] if my.get("password") else [])
        subprocess.run(base + ["-e", "DROP DATABASE IF EXISTS dbzref; CREATE DATABASE dbzref"], check=True)
        with open(os.path.join(REF, "mariadb_alltypes.sql")) as f:
            subprocess.run(base + ["dbzref"], stdin=f, check=True)

        def stream():
            with open(os.path.join(REF, "mariadb_stream.sql")) as f:
                subprocess.run(base + ["dbzref"], stdin=f, check=True)
        prefix, table, snap_rows, changes, name = "mariaref", "dbzref.alltypes", 3, 9, "mariadb"
        engine = ["--connector", "mariadb", "--host", my["host"], "--port", str(my["port"]),
                  "--user", my["user"], "--password", my.get("password") or ""]
        extra_topics = [prefix]  # schema-change topic
    delete_topics(admin, prefix)
    registry, url = start_registry(args.sluice, bootstrap, work, name)
    try:
        ready = os.path.join(work, f"ready-{name}")
        cmd = [sys.executable, ENGINE, *engine, "--include", table, "--prefix", prefix,
               "--format", "avro", "--registry-url", url, "--bootstrap", bootstrap,
               *[a for p in COMMON_PROPS for a in ("-p", p)],
               "--stop-after-records", str(changes), "--idle-seconds", "10",
               "--ready-file", ready, "--timeout", "300"]
        errf = open(os.path.join(work, f"engine-{name}.err"), "w")
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True)
        data_topic = f"{prefix}.{table}"
        deadline = time.monotonic() + 180
        while high_watermark(bootstrap, data_topic) < snap_rows:
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"engine failed before the snapshot: {p.stdout.read()} (see {errf.name})")
            time.sleep(0.5)
        log(f"{name}: snapshot in the broker; applying the streaming changes")
        stream()
        out, _ = p.communicate(timeout=400)
        summary = json.loads(out.strip().splitlines()[-1])
        log(f"{name}: engine: {summary}")
        if p.returncode != 0:
            raise SystemExit(f"engine failed: {summary.get('error')} (see {errf.name})")
        subprocess.run([sys.executable, CONVERT, "--schemas", "--registry-url", url,
                        "--output", os.path.join(args.out, f"debezium_{name}_schemas.json")], check=True)
        topics = [data_topic, f"{prefix}.transaction", f"__debezium-heartbeat.{prefix}", *extra_topics]
        topics = [t for t in topics if t in summary["topics"]]
        values = os.path.join(args.out, f"debezium_{name}_values.jsonl")
        subprocess.run([sys.executable, CONVERT, "--bootstrap", bootstrap, "--registry-url", url,
                        "--output", values, *topics], check=True)
        with open(values) as f:
            log(f"{name}: {f.readlines()[-1].strip()}")
    finally:
        registry.terminate()
        registry.wait(10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["postgres", "mariadb"])
    ap.add_argument("--sluice", default=os.path.expanduser("~/.cache/sluice/target/debug/sluice"))
    ap.add_argument("--out", default=REF)
    args = ap.parse_args()
    if not os.environ.get("SLUICE_TESTBED"):
        raise SystemExit("SLUICE_TESTBED is not set: source the env file `scripts/testbed up` prints")
    with open(os.environ["SLUICE_TESTBED"]) as f:
        tb = json.load(f)
    work = tempfile.mkdtemp(prefix="sluice-dbz-ref-")
    log(f"logs in {work}")
    for src in ([args.only] if args.only else ["postgres", "mariadb"]):
        run_source(src, tb, args, work)


if __name__ == "__main__":
    main()
