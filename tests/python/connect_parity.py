#!/usr/bin/env python3
"""Kafka Connect interop of Sluice's topics (issue 24), checked against the real Debezium 3.6.

Given the topics a `sluice source` wrote for the reference all-types table
(reference/pg_alltypes.sql + pg_stream.sql, or the MariaDB files), this script:

1. converts every record of the table topic, the transaction topic and the heartbeat topic with
   Connect's own `io.confluent.connect.avro.AvroConverter` (connect_convert.py: the Java converter
   in a JVM, schemas fetched from Sluice's registry by id) and counts the failures;
2. diffs the schemas Sluice registered against those the real Debezium engine registered for
   the same table (reference/debezium_<engine>_schemas.json, made by make_debezium_reference.py),
   field by field — Avro type, connect.name/version/parameters, logical types, optionality,
   defaults, record names — after renaming Debezium's topic prefix to Sluice's; every
   difference must be listed in DELIBERATE below (each is documented in docs/avro.md);
3. compares the converted `after` of each snapshot row with what Debezium's converters gave for
   the same row (reference/debezium_<engine>_values.jsonl), column by column, except for the
   columns DELIBERATE_VALUES names.

Usage: connect_parity.py --engine postgres|mariadb --bootstrap B --registry-url U --prefix P
                         --table-topic T [--transaction-topic T2] [--heartbeat-topic T3]
       connect_parity.py --format json ... (no registry): records written as Kafka Connect JSON
                         are converted with Connect's JsonConverter (schemas.enable=true) instead;
                         values are compared the same way, schemas are not diffed
Prints one JSON object: {"records", "errors", "error_samples", "schema_differences",
"value_differences"}; exit 0 (the Rust test asserts on the report).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "reference")

# Where Sluice's schemas differ from Debezium's on purpose (docs/avro.md, "Deliberate differences").
# Keys: a path into the schema (column name, or envelope field); values: why.
DELIBERATE = {
    "postgres": {
        "envelope.unchanged": "Sluice's list of unchanged TOAST columns (an optional field: converters accept it)",
        "c_interval": "interval.handling.mode=string (exact) instead of numeric (MicroDuration approximates months)",
        "c_varbit": "bit varying as its bit string: io.debezium.data.Bits cannot tell 101 from 0101",
        "c_hstore": "hstore as its text form (hstore.handling.mode=json would need a JSON → hstore step in every sink)",
        "params.__sluice.source.column.type": "Sluice's exact source type, from which its sinks create columns",
    },
    "mariadb": {
        "envelope.unchanged": "Sluice's list of unchanged TOAST columns (an optional field: converters accept it)",
        "envelope.source": "the io.debezium.connector.mysql.Source block (MySQL connector), not mariadb",
        "c_bigint_u": "bigint.unsigned.handling.mode=precise: BIGINT UNSIGNED as decimal(20,0), not a wrapping long",
        "c_json": "JSON columns as io.debezium.data.Json",
        "c_geom": "geometry as its WKB bytes",
        "params.__sluice.source.column.type": "Sluice's exact source type, from which its sinks create columns",
    },
}

# With --format json: Kafka Connect's JsonConverter reads the strings "NaN"/"Infinity" it writes
# for non-finite floats back as 0.0 (Debezium's JSON topics have the same limitation; Sluice's
# sinks read them exactly).
JSON_VALUES = {
    "c_real": "JsonConverter reads its own \"Infinity\" as 0.0",
    "c_double": "JsonConverter reads its own \"-Infinity\" as 0.0",
}

# Source-type parameters Debezium itself reports inconsistently, compared without them.
UNSTABLE_PARAMS = {
    "postgres": {
        # 131089/0 when the schema comes from JDBC metadata, 0/absent when a snapshot-only run
        # builds it: no single value to match.
        "c_numeric": ["__debezium.source.column.length", "__debezium.source.column.scale"],
    },
    "mariadb": {},
}

# Columns whose converted values differ from Debezium's, and why (docs/avro.md).
DELIBERATE_VALUES = {
    "postgres": {
        "c_interval": "ISO-8601 text instead of approximate microseconds",
        "c_varbit": "bit string text",
        "c_hstore": "hstore text",
        "c_bit8": "all bytes of a bit(n), where Debezium drops trailing zero bytes",
        "c_timetz": "the source's UTC offset kept (Debezium converts to UTC and loses it)",
        "c_tsrange": "PostgreSQL's own range text",
        "c_date": "BC dates proleptic (Debezium's snapshot drops the era: 44 BC becomes 44 AD; its stream agrees with Sluice)",
    },
    "mariadb": {
        "c_bigint_u": "exact decimal",
        "c_geom": "WKB bytes",
        "c_json": "the document as MariaDB sends it",
        "c_year": "YEAR 0000 as 0 (Debezium: 1 in the snapshot, 1900 when streamed)",
    },
}


def converted(args, topics):
    fmt = ["--format", "avro", "--registry-url", args.registry_url] if args.format == "avro" else ["--format", "json"]
    cmd = [sys.executable, os.path.join(HERE, "connect_convert.py"), "--bootstrap", args.bootstrap, *fmt, *topics]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"connect_convert.py failed ({p.returncode}): {p.stderr[-3000:]}")
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return lines[:-1], lines[-1]


def registry_schemas(url):
    cmd = [sys.executable, os.path.join(HERE, "connect_convert.py"), "--schemas", "--registry-url", url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"connect_convert.py --schemas failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def rename(obj, old, new):
    """Replace the topic prefix in every name/namespace/connect.name."""
    text = json.dumps(obj)
    return json.loads(text.replace(f'"{old}.', f'"{new}.').replace(f'"{old}"', f'"{new}"'))


def field_map(record):
    return {f["name"]: f for f in record["fields"]}


def value_record(envelope):
    return envelope["fields"][0]["type"][1]


def strip_params(field, drop):
    """A column field without the type parameters in `drop` (on a copy)."""
    field = json.loads(json.dumps(field))
    t = field["type"]
    for node in (t if isinstance(t, list) else [t]):
        if isinstance(node, dict) and "connect.parameters" in node:
            for k in drop:
                node["connect.parameters"].pop(k, None)
    return field


def schema_diff(engine, mine, theirs):
    """Differences between two envelope (or key) schemas, as readable strings."""
    allowed = DELIBERATE[engine]
    out = []
    drop = [k.split(".", 1)[1] for k in allowed if k.startswith("params.")]
    top_m, top_t = field_map(mine), field_map(theirs)
    for name in sorted(set(top_m) | set(top_t)):
        if name in ("before", "after"):
            continue
        if f"envelope.{name}" in allowed:
            continue
        if top_m.get(name) != top_t.get(name):
            out.append(f"envelope field {name}: sluice {json.dumps(top_m.get(name))[:400]} "
                       f"debezium {json.dumps(top_t.get(name))[:400]}")
    for k in ("name", "namespace", "connect.name", "connect.version", "type"):
        if mine.get(k) != theirs.get(k):
            out.append(f"envelope {k}: sluice {mine.get(k)!r} debezium {theirs.get(k)!r}")
    cm, ct = field_map(value_record(mine)), field_map(value_record(theirs))
    if list(cm) != list(ct):
        out.append(f"column order/names: sluice {list(cm)} debezium {list(ct)}")
    for col in ct:
        if col in allowed or col not in cm:
            continue
        unstable = UNSTABLE_PARAMS[engine].get(col, [])
        a = strip_params(cm[col], drop + unstable)
        b = strip_params(ct[col], drop + unstable)
        if a != b:
            out.append(f"column {col}: sluice {json.dumps(a, sort_keys=True)} debezium {json.dumps(b, sort_keys=True)}")
    return out


def key_diff(mine, theirs):
    a = json.loads(json.dumps(mine))
    b = json.loads(json.dumps(theirs))
    return [] if a == b else [f"key: sluice {json.dumps(a, sort_keys=True)} debezium {json.dumps(b, sort_keys=True)}"]


def live_debezium(args):
    """Run Debezium's PostgreSQL connector on the table now; return the schemas it registered."""
    hostport, db = args.live_postgres.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    prefix = f"{args.prefix}dbz"
    cmd = [sys.executable, os.path.join(HERE, "debezium_engine.py"), "--connector", "postgres",
           "--host", host, "--port", port, "--user", "postgres", "--dbname", db,
           "--slot", prefix, "--publication", prefix, "--drop-slot", "--include", "public.alltypes",
           "--prefix", prefix, "--format", "avro", "--registry-url", args.registry_url,
           "--bootstrap", args.bootstrap, "-p", "column.propagate.source.type=.*",
           "-p", "provide.transaction.metadata=true", "-p", "heartbeat.interval.ms=1000",
           # Sluice's own heartbeats on the same database are logical messages: not table data.
           "-p", "message.prefix.exclude.list=.*",
           "--stop-after-records", "3", "--idle-seconds", "4", "--timeout", "150"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=200)
    if p.returncode != 0:
        raise SystemExit(f"debezium_engine.py failed ({p.returncode}): {p.stdout[-2000:]} {p.stderr[-3000:]}")
    everything = registry_schemas(args.registry_url)
    return {k: v for k, v in everything.items() if prefix in k}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["postgres", "mariadb"], required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry-url")
    ap.add_argument("--format", choices=["avro", "json"], default="avro",
                    help="json: Sluice wrote Kafka Connect JSON; converted with JsonConverter, no schema diff")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--table-topic", required=True)
    ap.add_argument("--transaction-topic")
    ap.add_argument("--heartbeat-topic")
    ap.add_argument("--live-postgres", metavar="HOST:PORT/DB",
                    help="also run the real Debezium engine on this database now (snapshot of the table, "
                         "AvroConverter into the same registry under prefix <prefix>dbz) and diff against "
                         "its schemas instead of the stored reference")
    args = ap.parse_args()
    ref = "pg" if args.engine == "postgres" else "mariadb"
    ref_prefix = "pgref" if args.engine == "postgres" else "mariaref"
    raw = json.load(open(os.path.join(REF, f"debezium_{ref}_schemas.json")))
    # <prefix>.<schema or database>.alltypes: rename Debezium's table namespace to Sluice's first.
    my_ns = args.table_topic[: -len(".alltypes")]

    def normalized(schemas, prefix):
        ns = [k for k in schemas if k.endswith(".alltypes-value")][0][: -len(".alltypes-value")]
        return rename(rename(schemas, ns, my_ns), prefix, args.prefix)

    ref_schemas = normalized(raw, ref_prefix)
    live = bool(args.live_postgres)
    if live:
        # The table's key and value schemas from the engine run now; the transaction and
        # heartbeat schemas (table-independent, and only registered once a transaction streams)
        # from the stored reference.
        got = normalized(live_debezium(args), f"{args.prefix}dbz")
        for k in [k for k in ref_schemas if ".alltypes-" in k]:
            del ref_schemas[k]
        ref_schemas.update({k: v for k, v in got.items() if ".alltypes-" in k})

    topics = [t for t in (args.table_topic, args.transaction_topic, args.heartbeat_topic) if t]
    records, summary = converted(args, topics)
    errors = [r for r in records if r.get("error")]

    table = args.table_topic
    mine = registry_schemas(args.registry_url) if args.format == "avro" else None
    # Debezium's table topic is <prefix>.<schema or db>.<table>; Sluice's the same.
    ref_table = [k for k in ref_schemas if k.endswith(".alltypes-value")][0][: -len("-value")]
    diffs = []
    if mine is not None:
        diffs += schema_diff(args.engine, mine[f"{table}-value"], ref_schemas[f"{ref_table}-value"])
        diffs += key_diff(mine[f"{table}-key"], ref_schemas[f"{ref_table}-key"])
    for t, suffix in ((args.transaction_topic, "transaction"), (args.heartbeat_topic, None)):
        if not t or mine is None:
            continue
        for kv in ("key", "value"):
            ref_subject = (f"{ref_prefix}.transaction-{kv}" if suffix else f"__debezium-heartbeat.{ref_prefix}-{kv}")
            theirs_schema = ref_schemas.get(ref_subject, ref_schemas.get(ref_subject.replace(ref_prefix, args.prefix, 1)))
            if mine.get(f"{t}-{kv}") != theirs_schema:
                diffs.append(f"{t}-{kv}: sluice {json.dumps(mine.get(f'{t}-{kv}'), sort_keys=True)} "
                             f"debezium {json.dumps(theirs_schema, sort_keys=True)}")

    # Values: the snapshot rows (op r) of both, by key.
    theirs = {}
    for line in open(os.path.join(REF, f"debezium_{ref}_values.jsonl")):
        r = json.loads(line)
        v = r.get("value")
        if r.get("topic", "").endswith(".alltypes") and v and v.get("op") == "r":
            theirs[json.dumps(r["key"], sort_keys=True)] = v["after"]
    value_diffs = []
    seen = 0
    for r in records:
        v = r.get("value")
        if r["topic"] != table or not v or v.get("op") != "r":
            continue
        want = theirs.get(json.dumps(r["key"], sort_keys=True))
        if want is None:
            continue
        seen += 1
        for col, dv in want.items():
            if col in DELIBERATE_VALUES[args.engine] or (args.format == "json" and col in JSON_VALUES):
                continue
            sv = v["after"].get(col)
            if sv != dv:
                value_diffs.append(f"key {r['key']} {col}: sluice {json.dumps(sv)[:200]} debezium {json.dumps(dv)[:200]}")
    print(json.dumps({
        "records": summary.get("records"),
        "errors": len(errors),
        "error_samples": [f"{e['topic']}@{e['offset']}: {e['error']}" for e in errors[:5]],
        "topics": summary.get("topics"),
        "snapshot_rows_compared": seen,
        "schemas_from": "a live Debezium engine run" if live else "the stored reference",
        "schema_differences": diffs,
        "value_differences": value_diffs,
    }, indent=1))


if __name__ == "__main__":
    main()
