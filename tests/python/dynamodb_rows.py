"""Read a DynamoDB target's items with boto3 (a client Sluice did not write).

Usage: dynamodb_rows.py ENDPOINT TABLE KEYCOLUMN[,KEYCOLUMN…] COLUMN[,COLUMN…]
A table that does not exist yet reads as empty. Prints one JSON object: {"<key>": [<attribute as text, or null when absent>, …]}. The key is
the single key column's text, or a compact JSON object of the key columns in order. Values are
rendered by their DynamoDB type: N as decimal text (as DynamoDB returns it: normalized), S as
is, B as hex, BOOL as true/false, M and L as compact JSON (map keys sorted), NULL as null.
"""

import decimal
import json
import sys

import boto3


def plain(v):
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)) or type(v).__name__ == "Binary":
        return bytes(v.value if hasattr(v, "value") else v).hex()
    return v


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, decimal.Decimal):
        return str(v)
    if type(v).__name__ == "Binary":
        return bytes(v.value).hex()
    if isinstance(v, (dict, list)):
        return json.dumps(plain(v), separators=(",", ":"), sort_keys=True)
    return str(v)


def main() -> None:
    endpoint, table, keys, columns = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
    db = boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    rows = {}
    t = db.Table(table)
    kwargs = {"ConsistentRead": True}
    while True:
        try:
            page = t.scan(**kwargs)
        except db.meta.client.exceptions.ResourceNotFoundException:
            break  # not created yet: no items
        for item in page["Items"]:
            if len(keys) == 1:
                key = text(item[keys[0]])
            else:
                key = json.dumps({k: plain(item.get(k)) for k in keys}, separators=(",", ":"))
            rows[key] = [text(item.get(c)) for c in columns]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
