"""Dump a document/key-value target's rows with the target's own client, each value in a form
that shows its type there (clients Sluice did not write).

Usage: typed_items.py mongodb URL DATABASE COLLECTION
       typed_items.py dynamodb ENDPOINT TABLE KEYCOLUMN
       typed_items.py redis URL KEYPREFIX
       typed_items.py opensearch URL INDEX
Prints one JSON object {"<key>": {"<field>": <value>, …}, …}:
- mongodb: pymongo's documents as canonical extended JSON ({"$numberDecimal": "1.50"},
  {"$binary": {"base64": …, "subType": "04"}}, {"$date": {"$numberLong": …}}, …), `_id` left out;
- dynamodb: boto3's low-level items as AttributeValue JSON ({"N": "1.5"}, {"S": …}, {"B": <hex>},
  {"M": …}, {"L": …}, {"BOOL": …}, {"NULL": true}), `__sluice_offset` left out;
- opensearch: opensearch-py's `_source` of every document (JSON as stored);
- redis: redis-py's HGETALL of `<KEYPREFIX>:<id>` hashes; a field is its UTF-8 text, or
  {"hex": …} when its bytes are not UTF-8.
"""

import json
import sys


def mongodb(url, database, collection):
    import pymongo
    from bson import json_util

    opts = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, uuid_representation=4)
    client = pymongo.MongoClient(url, uuidRepresentation="standard")
    out = {}
    for doc in client[database][collection].find():
        key = doc.pop("_id")
        out[str(key)] = json.loads(json_util.dumps(doc, json_options=opts))
    return out


def dynamo_value(v):
    ((t, x),) = v.items()
    if t == "B":
        return {"B": bytes(x).hex()}
    if t == "BS":
        return {"BS": [bytes(b).hex() for b in x]}
    if t == "M":
        return {"M": {k: dynamo_value(y) for k, y in x.items()}}
    if t == "L":
        return {"L": [dynamo_value(y) for y in x]}
    return {t: x}


def dynamodb(endpoint, table, key):
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    out = {}
    kwargs = {"TableName": table, "ConsistentRead": True}
    while True:
        try:
            page = client.scan(**kwargs)
        except client.exceptions.ResourceNotFoundException:
            break
        for item in page["Items"]:
            item.pop("__sluice_offset", None)
            k = item.pop(key)
            out[next(iter(k.values()))] = {n: dynamo_value(v) for n, v in item.items()}
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return out


def redis(url, prefix):
    import redis as redis_py

    r = redis_py.Redis.from_url(url)
    out = {}
    for name in r.scan_iter(match=prefix.encode() + b":*", count=1000):
        if r.type(name) != b"hash":
            continue
        fields = {}
        for f, v in r.hgetall(name).items():
            try:
                fields[f.decode()] = v.decode()
            except UnicodeDecodeError:
                fields[f.decode()] = {"hex": v.hex()}
        out[name.decode()[len(prefix) + 1:]] = fields
    return out


def opensearch(url, index):
    from opensearchpy import OpenSearch, helpers
    from opensearchpy.exceptions import NotFoundError

    client = OpenSearch(hosts=[url], timeout=60)
    try:
        client.indices.refresh(index=index)
        return {h["_id"]: h["_source"] for h in helpers.scan(client, index=index, query={"query": {"match_all": {}}})}
    except NotFoundError:
        return {}


def main():
    target, args = sys.argv[1], sys.argv[2:]
    print(json.dumps({"mongodb": mongodb, "dynamodb": dynamodb, "redis": redis, "opensearch": opensearch}[target](*args), sort_keys=True))


if __name__ == "__main__":
    main()
