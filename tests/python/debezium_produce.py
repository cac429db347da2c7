"""Produce change events the way Debezium's PostgreSQL connector (2.x/3.x) writes them through
Confluent's AvroConverter, with confluent-kafka's AvroSerializer against a schema registry, and
print the state a sink must leave in the target.

Usage: debezium_produce.py BOOTSTRAP REGISTRY_URL PREFIX

Topics (one partition each, `topic.prefix` = PREFIX):
  PREFIX.public.customers  default connector settings: column schemas carry Kafka Connect /
                           Debezium semantic names only (no source column types);
  PREFIX.inv.orders        `column.propagate.source.type=.*`: every column schema, key fields
                           included, also carries `__debezium.source.column.type/length/scale`.

What the records look like (decimal.handling.mode=precise, time.precision.mode=adaptive,
binary.handling.mode=bytes, interval.handling.mode=numeric, skipped.operations=none, the
transaction block present and null as with provide.transaction.metadata=false):
  - key schema `<prefix>.<schema>.<table>.Key`; value schema `….Envelope` with `before` /
    `after` of `….Value`, `source` of `io.debezium.connector.postgresql.Source`, then `op`,
    `ts_ms`, `ts_us`, `ts_ns`, `transaction` (`event.block`);
  - every Connect name, version, parameter and default as AvroData's `connect.*` attributes;
    optional columns as `["null", T]` with default null; a NOT NULL column with a SQL default
    as `T` with `connect.default` and an Avro default;
  - snapshot `r` events (source.snapshot first/true/last), then streaming c/u/d; each `d` is
    followed by a tombstone (same key, null value); a primary-key change is a `d` of the old key,
    its tombstone and a `c` of the new key; a delete's `before` holds the key and, for NOT NULL
    columns, Debezium's fallback values (replica identity DEFAULT);
  - an update whose TOASTed columns were not changed carries Debezium's placeholders:
    `__debezium_unavailable_value` for text/jsonb, its UTF-8 bytes for bytea, a one-element list
    for text[], and the placeholder's bytes as integers for int[];
  - a truncate (`op = t`, null key, null before/after) on the orders topic.

Output: one JSON object, {"topics": {topic: records}, "tables": [{"name", "key", "columns",
"json_columns", "rows"}]}: per table the final rows, each column as PostgreSQL's text output
(`col::text` with TimeZone=UTC), null as null; json columns as the document (compare parsed).
"""
import datetime
import decimal
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

PLACEHOLDER = "__debezium_unavailable_value"
VERSION = "3.0.7.Final"
EPOCH = datetime.datetime(1970, 1, 1)

# ---------------------------------------------------------------------------------------------
# Column kinds: Avro (as AvroData renders Debezium's Connect schema), the value Debezium sends,
# the source type `column.propagate.source.type` reports, and PostgreSQL's text output.


def semantic(avro_type, name, params=None):
    t = {"type": avro_type, "connect.version": 1}
    if params:
        t["connect.parameters"] = params
    t["connect.name"] = name
    return t


def zoned(micros, digits):
    ts = EPOCH + datetime.timedelta(microseconds=micros)
    frac = f"{ts.microsecond:06d}"[:digits] if digits else ""
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def pg_time_text(micros_of_day):
    s, us = divmod(micros_of_day, 1_000_000)
    text = f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
    return text + (f".{us:06d}".rstrip("0") if us else "")


def pg_ts_text(micros):
    ts = EPOCH + datetime.timedelta(microseconds=micros)
    return ts.strftime("%Y-%m-%d ") + pg_time_text(ts.hour * 3_600_000_000 + ts.minute * 60_000_000
                                                    + ts.second * 1_000_000 + ts.microsecond)


def unscaled_bytes(d):
    sign, digits, exp = d.as_tuple()
    n = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    length = max(1, (n.bit_length() + 8) // 8)
    return n.to_bytes(length, "big", signed=True), -exp


def pg_array_text(items, quote):
    def one(x):
        if x is None:
            return "NULL"
        s = str(x)
        if quote and (s == "" or s.upper() == "NULL" or any(c in s for c in ' {},"\\')):
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return s
    return "{" + ",".join(one(x) for x in items) + "}"


class Kind:
    """One PostgreSQL column type as Debezium renders it."""

    def __init__(self, avro, encode, text, source, placeholder=None, fallback=None):
        self.avro = avro            # Avro type (no null branch)
        self.encode = encode        # Python value → what the serializer gets
        self.text = text            # Python value → PostgreSQL text output
        self.source = source        # (TYPE, length, scale) for column.propagate.source.type
        self.placeholder = placeholder  # Debezium's unchanged-TOAST value, if the type TOASTs
        self.fallback = fallback    # a NOT NULL column in a delete's `before` (wire form)


def ident(x):
    return x


INT4 = Kind("int", ident, str, ("INT4", 10, 0), fallback=0)
INT2 = Kind({"type": "int", "connect.type": "int16"}, ident, str, ("INT2", 5, 0), fallback=0)
INT8 = Kind("long", ident, str, ("INT8", 19, 0), fallback=0)
FLOAT8 = Kind("double", ident, lambda x: str(int(x)) if x == int(x) else repr(x), ("FLOAT8", 17, 17), fallback=0.0)
TEXT = Kind("string", ident, ident, ("TEXT", 2147483647, 0), PLACEHOLDER, "")
BYTEA = Kind("bytes", ident, lambda b: "\\x" + b.hex(), ("BYTEA", 2147483647, 0),
             PLACEHOLDER.encode(), b"")
JSONB = Kind(semantic("string", "io.debezium.data.Json"), ident, ident, ("JSONB", 2147483647, 0),
             PLACEHOLDER, "{}")
UUID = Kind(semantic("string", "io.debezium.data.Uuid"), ident, ident, ("UUID", 2147483647, 0),
            fallback="00000000-0000-0000-0000-000000000000")
DATE = Kind(semantic("int", "io.debezium.time.Date"), ident,
            lambda d: (datetime.date(1970, 1, 1) + datetime.timedelta(days=d)).isoformat(),
            ("DATE", 13, 0), fallback=0)
TIME = Kind(semantic("long", "io.debezium.time.MicroTime"), ident, pg_time_text, ("TIME", 15, 6),
            fallback=0)
TS6 = Kind(semantic("long", "io.debezium.time.MicroTimestamp"), ident, pg_ts_text,
           ("TIMESTAMP", 29, 6), fallback=0)
# timestamp(3): io.debezium.time.Timestamp, milliseconds.
TS3 = Kind(semantic("long", "io.debezium.time.Timestamp"), lambda us: us // 1000, pg_ts_text,
           ("TIMESTAMP", 26, 3), fallback=0)
TSTZ = Kind(semantic("string", "io.debezium.time.ZonedTimestamp"), lambda us: zoned(us, 6),
            lambda us: pg_ts_text(us) + "+00", ("TIMESTAMPTZ", 35, 6), fallback="1970-01-01T00:00:00.000000Z")
TEXT_ARR = Kind({"type": "array", "items": ["null", "string"]}, ident,
                lambda v: pg_array_text(v, True), ("_TEXT", 2147483647, 0), [PLACEHOLDER], [])
INT_ARR = Kind({"type": "array", "items": ["null", "int"]}, ident, lambda v: pg_array_text(v, False),
               ("_INT4", 10, 0), list(PLACEHOLDER.encode()), [])
VAR_NUMERIC = Kind(
    {"type": "record", "name": "VariableScaleDecimal", "namespace": "io.debezium.data",
     "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}],
     "connect.doc": "Variable scaled decimal", "connect.version": 1,
     "connect.name": "io.debezium.data.VariableScaleDecimal"},
    lambda d: (lambda b, s: {"scale": s, "value": b})(*unscaled_bytes(d)), str, ("NUMERIC", 0, 0),
    fallback={"scale": 0, "value": b"\x00"})


def numeric(p, s):
    avro = {"type": "bytes", "scale": s, "precision": p, "connect.version": 1,
            "connect.parameters": {"scale": str(s), "connect.decimal.precision": str(p)},
            "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"}
    q = decimal.Decimal(1).scaleb(-s)
    return Kind(avro, lambda d: d.quantize(q), lambda d: str(d.quantize(q)), ("NUMERIC", p, s),
                fallback=decimal.Decimal(0))


def varchar(n):
    return Kind("string", ident, ident, ("VARCHAR", n, 0), PLACEHOLDER, "")


def enum(type_name, values):
    return Kind(semantic("string", "io.debezium.data.Enum", {"allowed": ",".join(values)}), ident,
                ident, (type_name.upper(), 2147483647, 0), fallback="")


# ---------------------------------------------------------------------------------------------
# Schemas


class Col:
    def __init__(self, name, kind, nullable=True, default=None):
        self.name, self.kind, self.nullable, self.default = name, kind, nullable, default


def column_type(col, propagate):
    t = json.loads(json.dumps(col.kind.avro))
    if propagate:
        name, length, scale = col.kind.source
        params = {"__debezium.source.column.type": name, "__debezium.source.column.length": str(length),
                  "__debezium.source.column.scale": str(scale)}
        if isinstance(t, str):
            t = {"type": t}
        t.setdefault("connect.parameters", {}).update(params)
    if col.default is not None:
        if isinstance(t, str):
            t = {"type": t}
        t["connect.default"] = col.default
    return t


def column_field(col, propagate):
    t = column_type(col, propagate)
    if col.nullable:
        return {"name": col.name, "type": ["null", t], "default": None}
    f = {"name": col.name, "type": t}
    if col.default is not None:
        f["default"] = col.default
    return f


def source_schema():
    snapshot = {"type": "string", "connect.version": 1,
                "connect.parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
                "connect.default": "false", "connect.name": "io.debezium.data.Enum"}
    opt = lambda n, t: {"name": n, "type": ["null", t], "default": None}  # noqa: E731
    return {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [
        {"name": "version", "type": "string"}, {"name": "connector", "type": "string"},
        {"name": "name", "type": "string"}, {"name": "ts_ms", "type": "long"},
        {"name": "snapshot", "type": [snapshot, "null"], "default": "false"},
        {"name": "db", "type": "string"}, opt("sequence", "string"), opt("ts_us", "long"), opt("ts_ns", "long"),
        {"name": "schema", "type": "string"}, {"name": "table", "type": "string"},
        opt("txId", "long"), opt("lsn", "long"), opt("xmin", "long"),
    ], "connect.version": 1, "connect.name": "io.debezium.connector.postgresql.Source"}


class Table:
    def __init__(self, prefix, schema, table, columns, key, propagate):
        self.prefix, self.schema, self.table = prefix, schema, table
        self.columns, self.key, self.propagate = columns, key, propagate
        self.topic = f"{prefix}.{schema}.{table}"
        ns = self.topic
        by_name = {c.name: c for c in columns}
        self.key_schema = {"type": "record", "name": "Key", "namespace": ns,
                           "fields": [column_field(by_name[k], propagate) for k in key],
                           "connect.name": f"{ns}.Key"}
        value = {"type": "record", "name": "Value", "fields": [column_field(c, propagate) for c in columns],
                 "connect.name": f"{ns}.Value"}
        opt = lambda n, t: {"name": n, "type": ["null", t], "default": None}  # noqa: E731
        block = {"type": "record", "name": "block", "namespace": "event", "fields": [
            {"name": "id", "type": "string"}, {"name": "total_order", "type": "long"},
            {"name": "data_collection_order", "type": "long"}], "connect.version": 1, "connect.name": "event.block"}
        self.value_schema = {"type": "record", "name": "Envelope", "namespace": ns, "fields": [
            opt("before", value), opt("after", f"{ns}.Value"),
            {"name": "source", "type": source_schema()},
            {"name": "op", "type": "string"},
            opt("ts_ms", "long"), opt("ts_us", "long"), opt("ts_ns", "long"),
            opt("transaction", block),
        ], "connect.version": 2, "connect.name": f"{ns}.Envelope"}
        self.state = {}  # key tuple -> {column: python value}
        self.records = 0


# ---------------------------------------------------------------------------------------------
# Producing


class Writer:
    def __init__(self, bootstrap, registry):
        self.client = SchemaRegistryClient({"url": registry})
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.serializers = {}
        self.lsn = 24_000_000
        self.tx = 700
        self.ts_us = 1_709_287_200_000_000

    def serializer(self, table, field):
        k = (table.topic, field)
        if k not in self.serializers:
            schema = table.key_schema if field == MessageField.KEY else table.value_schema
            self.serializers[k] = AvroSerializer(self.client, json.dumps(schema))
        return self.serializers[k]

    def encode_row(self, table, row):
        if row is None:
            return None
        return {c.name: wire(c.kind, row.get(c.name)) for c in table.columns}

    def source(self, table, snapshot):
        self.lsn += 136
        self.ts_us += 1_250_017
        seq = json.dumps([str(self.lsn - 136) if snapshot == "false" else None, str(self.lsn)])
        return {"version": VERSION, "connector": "postgresql", "name": table.prefix,
                "ts_ms": self.ts_us // 1000, "snapshot": snapshot, "db": "shop", "sequence": seq,
                "ts_us": self.ts_us, "ts_ns": self.ts_us * 1000, "schema": table.schema, "table": table.table,
                "txId": self.tx, "lsn": self.lsn, "xmin": None}

    def send(self, table, key, value):
        kctx = SerializationContext(table.topic, MessageField.KEY)
        vctx = SerializationContext(table.topic, MessageField.VALUE)
        k = None if key is None else self.serializer(table, MessageField.KEY)(key, kctx)
        v = None if value is None else self.serializer(table, MessageField.VALUE)(value, vctx)
        self.producer.produce(table.topic, key=k, value=v)
        table.records += 1

    def event(self, table, op, before=None, after=None, snapshot="false"):
        now = self.ts_us + 40_000
        value = {"before": self.encode_row(table, before), "after": self.encode_row(table, after),
                 "source": self.source(table, snapshot), "op": op,
                 "ts_ms": now // 1000, "ts_us": now, "ts_ns": now * 1000, "transaction": None}
        row = after if after is not None else before
        key = None if row is None else {k: table_kind(table, k).encode(row[k]) for k in table.key}
        self.send(table, key, value)
        return key

    # Operations, each applied to the expected state as PostgreSQL would hold it.

    def read(self, table, row, snapshot):
        self.event(table, "r", after=row, snapshot=snapshot)
        table.state[key_of(table, row)] = dict(row)

    def create(self, table, row):
        self.tx += 1
        self.event(table, "c", after=row)
        table.state[key_of(table, row)] = dict(row)

    def update(self, table, row):
        self.tx += 1
        self.event(table, "u", after=row)
        k = key_of(table, row)
        merged = dict(table.state[k])
        merged.update({c: v for c, v in row.items() if not isinstance(v, Raw)})
        table.state[k] = merged

    def delete(self, table, key_values):
        self.tx += 1
        before = {c.name: (key_values[c.name] if c.name in table.key else
                           (None if c.nullable else (c.default if c.default is not None else Raw(c.kind.fallback))))
                  for c in table.columns}
        key = self.event(table, "d", before=before)
        self.send(table, key, None)  # tombstone
        del table.state[key_of(table, key_values)]

    def truncate(self, table):
        self.tx += 1
        self.event(table, "t")
        table.state.clear()


class Raw:
    """A value sent as is (already in Debezium's wire form), not kept in the expected state."""

    def __init__(self, value):
        self.value = value


def wire(kind, v):
    if v is None:
        return None
    if isinstance(v, Raw):
        return v.value
    return kind.encode(v)


def table_kind(table, name):
    return next(c.kind for c in table.columns if c.name == name)


def key_of(table, row):
    return tuple(row[k] for k in table.key)


def toast(kind):
    return Raw(kind.placeholder)


# ---------------------------------------------------------------------------------------------


def customers(prefix):
    tier = enum("tier", ["bronze", "silver", "gold"])
    cols = [
        Col("id", INT4, nullable=False),
        Col("name", varchar(100), nullable=False),
        Col("email", TEXT),
        Col("balance", numeric(12, 2)),
        Col("ratio", VAR_NUMERIC),
        Col("signed_up", TS6),
        Col("legacy_at", TS3),
        Col("last_seen", TSTZ),
        Col("birthday", DATE),
        Col("wake_up", TIME),
        Col("ext_id", UUID),
        Col("profile", JSONB),
        Col("tier", tier),
        Col("active", Kind("boolean", ident, lambda b: "true" if b else "false", ("BOOL", 1, 0), fallback=False),
            nullable=False, default=True),
        Col("score", FLOAT8),
        Col("visits", INT2),
        Col("total", INT8),
        Col("photo", BYTEA),
        Col("tags", TEXT_ARR),
        Col("lucky", INT_ARR),
        Col("notes", TEXT),
    ]
    return Table(prefix, "public", "customers", cols, ["id"], propagate=False)


def customer(i, big=False):
    D = decimal.Decimal
    return {
        "id": i, "name": f"Customer {i} \u00e9\u00f8 'q' \"dq\"", "email": f"c{i}@example.com",
        "balance": D(f"{i * 1234}.5") * (-1 if i % 2 else 1), "ratio": D(f"3.{i:04d}1") if i % 3 else D("-12345678901234567890.123"),
        "signed_up": 1_709_287_200_123_456 + i * 86_400_000_000, "legacy_at": 946_684_799_999_000 - i * 1000,
        "last_seen": 1_709_300_000_000_000 + i * 1_000_001 if i % 4 else 1_709_300_000_000_000,
        "birthday": -25_567 + i * 400, "wake_up": 6 * 3_600_000_000 + i * 61_000_500,
        "ext_id": f"5f0c3a52-3b1a-4c6e-9c1d-2f8e4b7a9d{i:02x}",
        "profile": json.dumps({"id": i, "nested": {"tags": ["a", "b\"c"], "ok": True}, "note": "x" * (3000 if big else 3)}),
        "tier": ["bronze", "silver", "gold"][i % 3], "active": i % 2 == 0, "score": i / 8 - 0.375,
        "visits": -i, "total": 9_007_199_254_740_993 + i,
        "photo": bytes(range(256)) * (40 if big else 1),
        "tags": ["plain", "with space", "comma,here", "quote\"d", "back\\slash", "", None, "NULL"] + (["t"] * 900 if big else []),
        "lucky": [i, -i, None, 2_147_483_647] + (list(range(2000)) if big else []),
        "notes": ("long notes " * 500) if big else f"short notes {i}",
    }


def orders(prefix):
    cols = [
        Col("sku", varchar(20), nullable=False),
        Col("wh", INT4, nullable=False),
        Col("qty", INT8, nullable=False),
        Col("price", numeric(10, 3)),
        Col("placed", TSTZ),
        Col("note", TEXT),
    ]
    return Table(prefix, "inv", "orders", cols, ["sku", "wh"], propagate=True)


def order(sku, wh, qty):
    return {"sku": sku, "wh": wh, "qty": qty, "price": decimal.Decimal(qty) / 8, "placed": 1_700_000_000_000_000 + qty * 7,
            "note": None if qty % 2 else f"order {sku}/{wh}"}


def main():
    bootstrap, registry, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    cust, ords = customers(prefix), orders(prefix)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(t.topic, 1, 1) for t in (cust, ords)]).values():
        f.result()
    w = Writer(bootstrap, registry)

    # Snapshot.
    for i in range(1, 6):
        w.read(cust, customer(i, big=(i == 3)), "first" if i == 1 else "last" if i == 5 else "true")
    for n, (sku, wh) in enumerate([("A-1", 1), ("A-1", 2), ("B 2", 1)]):
        w.read(ords, order(sku, wh, 10 + n), "first" if n == 0 else "last" if n == 2 else "true")

    # Streaming.
    for i in (6, 7, 8, 9):
        w.create(cust, customer(i))
    changed = customer(2)
    changed.update(balance=decimal.Decimal("-0.01"), email=None, tier="gold", score=-1e-3)
    w.update(cust, changed)
    # Unchanged TOAST columns of a big row: placeholders only, the target keeps its values.
    toasted = customer(3, big=True)
    toasted.update(name="renamed", visits=99, notes=toast(TEXT), profile=toast(JSONB), photo=toast(BYTEA),
                   tags=toast(TEXT_ARR), lucky=toast(INT_ARR))
    w.update(cust, toasted)
    w.delete(cust, {"id": 4})
    # Primary-key change 5 → 50: delete + tombstone + create.
    moved = dict(cust.state[(5,)])
    w.delete(cust, {"id": 5})
    moved["id"] = 50
    w.create(cust, moved)
    w.delete(cust, {"id": 9})
    nulls = {c.name: None for c in cust.columns}
    nulls.update(id=6, name="", active=False)
    w.update(cust, nulls)

    w.create(ords, order("C-3", 7, 31))
    w.update(ords, dict(order("A-1", 1, 10), qty=11))
    w.truncate(ords)
    for n, (sku, wh) in enumerate([("A-1", 1), ("Z\u00fc", 3), ("D-4", 2)]):
        w.create(ords, order(sku, wh, 100 + n))
    w.delete(ords, {"sku": "D-4", "wh": 2})
    w.update(ords, dict(order("A-1", 1, 100), note="after truncate"))

    left = w.producer.flush(30)
    if left:
        raise SystemExit(f"{left} records not delivered")

    tables = []
    for t in (cust, ords):
        rows = []
        for row in t.state.values():
            rows.append([None if row.get(c.name) is None else
                         (json.loads(row[c.name]) if c.kind is JSONB else c.kind.text(row[c.name]))
                         for c in t.columns])
        tables.append({"name": f"{t.schema}.{t.table}", "key": t.key, "columns": [c.name for c in t.columns],
                       "json_columns": [c.name for c in t.columns if c.kind is JSONB], "rows": rows})
    print(json.dumps({"topics": {t.topic: t.records for t in (cust, ords)}, "tables": tables}))


if __name__ == "__main__":
    main()
