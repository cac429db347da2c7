"""Read a MongoDB target's documents with pymongo (a client Sluice did not write).

Usage: mongo_rows.py URL DATABASE COLLECTION COLUMN[,COLUMN…]
Prints one JSON object: {"<_id as text>": [<field as text, or null when absent or null>, …]}.
Values are rendered by their BSON type: integers and Decimal128 as decimal text, strings as
they are, dates as ISO-8601, binary as hex, documents and arrays as JSON.
"""

import datetime
import json
import sys

import bson
import pymongo


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, bson.decimal128.Decimal128)):
        return str(v)
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=str, separators=(",", ":"))
    return str(v)


def main() -> None:
    url, db, coll, columns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
    c = pymongo.MongoClient(url, serverSelectionTimeoutMS=10000)
    rows = {}
    for d in c[db][coll].find():
        rows[text(d["_id"])] = [text(d.get(col)) for col in columns]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
