"""Read a change-log target (shape = "changelog") with the target system's own client.

Usage: changelog_rows.py redis|mongodb|dynamodb URL NAME
NAME is the Redis stream, the MongoDB `<database>.<collection>`, or the DynamoDB table.
Prints a JSON list, in offset order, of [topic, partition, offset, op, before, after, source.table],
where before/after are the images as JSON objects (or null).
"""

import json
import sys

from dynamodb_rows import plain  # DynamoDB numbers and binaries as plain JSON values


def redis_rows(url, name):
    import redis

    r = redis.Redis.from_url(url)
    out = []
    for _id, f in r.xrange(name):
        f = {k.decode(): v.decode() for k, v in f.items()}

        def img(k):
            try:
                return json.loads(f[k]) if k in f else None
            except ValueError as e:
                raise SystemExit(f"entry {_id}: field {k} is not JSON ({e}): {f[k]!r}")

        out.append([f["topic"], int(f["partition"]), int(f["offset"]), f["op"], img("before"), img("after"),
                    json.loads(f["source"])["table"]])
    return out


def mongo_rows(url, name):
    import pymongo

    db, coll = name.split(".", 1)
    c = pymongo.MongoClient(url, serverSelectionTimeoutMS=10000)
    out = []
    for d in c[db][coll].find():
        i = d["_id"]
        out.append([i["topic"], i["partition"], i["offset"], d["op"], d.get("before"), d.get("after"), d["source"]["table"]])
    return out


def dynamo_rows(url, name):
    import boto3

    t = boto3.resource("dynamodb", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test").Table(name)
    out, kwargs = [], {"ConsistentRead": True}
    while True:
        page = t.scan(**kwargs)
        for d in page["Items"]:
            d = plain(d)
            out.append([d["topic"], d["partition"], d["offset"], d["op"], d.get("before"), d.get("after"), d["source"]["table"]])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return out


def main() -> None:
    kind, url, name = sys.argv[1:4]
    rows = {"redis": redis_rows, "mongodb": mongo_rows, "dynamodb": dynamo_rows}[kind](url, name)
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
