"""Read an Iceberg change-log table with pyiceberg (a client Sluice did not write): through the
SQL catalog (SQLite) the sink wrote, data files from the S3 warehouse.

Usage:
  iceberg_rows.py rows   CATALOG_DB ENDPOINT NAMESPACE.TABLE KEYCOLUMN[,…] COLUMN[,…]
  iceberg_rows.py state  CATALOG_DB ENDPOINT NAMESPACE.TABLE KEYCOLUMN[,…] COLUMN[,…]
  iceberg_rows.py typed  CATALOG_DB ENDPOINT NAMESPACE.TABLE KEYCOLUMN
  iceberg_rows.py count  CATALOG_DB ENDPOINT NAMESPACE.TABLE

`rows`: the table scanned and its change rows replayed per key (s3_rows.replay: an offset seen
twice is an error). `state`: the current state by the query docs/sinks.md gives ("Iceberg
target"), run with pyarrow compute on the scan: rows after the last truncate, the newest
`__offset` per key, deletes dropped. Both print {"<key>": [<column as text>, …]}. `typed`: as
`rows`, each column [<Iceberg type>, <text>]. `count`: {"rows": N, "distinct": N, "snapshots": N}.
A missing table prints {} (rows/state/typed) or zero counts.
Credentials from the test bench's SLUICE_S3_*.
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError

sys.path.insert(0, os.path.dirname(__file__))
from s3_rows import emit, replay, text  # noqa: E402


def catalog(db, endpoint):
    env = os.environ
    return SqlCatalog(
        "sluice",
        uri=f"sqlite:///{db}",
        **{
            "s3.endpoint": endpoint,
            "s3.access-key-id": env.get("SLUICE_S3_ACCESS_KEY_ID"),
            "s3.secret-access-key": env.get("SLUICE_S3_SECRET_ACCESS_KEY"),
            "s3.region": "us-east-1",
            "s3.force-virtual-addressing": False,
        },
    )


def current_state(t: pa.Table, key_cols):
    """The documented current-state query, in pyarrow: after the last truncate of each topic
    partition, the newest row per key, unless it is a delete. (Joins run on a slim projection
    with a row number: Acero joins no list columns.)"""
    t = t.append_column("__row", pa.array(range(t.num_rows), pa.int64()))
    slim = t.select(["__topic", "__partition", "__offset", "__op", "__row"] + key_cols)
    truncates = slim.filter(pc.equal(slim["__op"], "t"))
    if truncates.num_rows:
        last = truncates.group_by(["__topic", "__partition"]).aggregate([("__offset", "max")])
        slim = slim.join(last, ["__topic", "__partition"], join_type="left outer")
        keep = pc.or_(pc.is_null(slim["__offset_max"]), pc.greater(slim["__offset"], slim["__offset_max"]))
        slim = slim.filter(keep).drop_columns(["__offset_max"])
    slim = slim.filter(pc.not_equal(slim["__op"], "t"))
    newest = slim.group_by(key_cols).aggregate([("__offset", "max")]).rename_columns(key_cols + ["__offset"])
    slim = slim.join(newest, key_cols + ["__offset"], join_type="inner")
    slim = slim.filter(pc.not_equal(slim["__op"], "d"))
    rows = t.take(slim["__row"]).drop_columns(["__row"])
    return {",".join(text(r[c]) for c in key_cols): r for r in rows.to_pylist()}


def main() -> None:
    cmd, db, endpoint, name = sys.argv[1:5]
    try:
        table = catalog(db, endpoint).load_table(name)
    except NoSuchTableError:
        print(json.dumps({"rows": 0, "distinct": 0, "snapshots": 0} if cmd == "count" else {}))
        return
    scan = table.scan().to_arrow()
    if cmd == "count":
        coords = {(r["__topic"], r["__partition"], r["__offset"])
                  for r in scan.select(["__topic", "__partition", "__offset"]).to_pylist()}
        print(json.dumps({"rows": scan.num_rows, "distinct": len(coords),
                          "snapshots": len(table.metadata.snapshots)}))
        return
    key_cols = sys.argv[5].split(",")
    if cmd == "state":
        state = current_state(scan, key_cols)
    else:
        state = replay(scan.to_pylist(), key_cols)
    emit(cmd, state, {f.name: str(f.field_type) for f in table.schema().fields})


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
