"""Pretty-print the JSON lines of tests/python/decode_topic.py for the demo.

Usage: decode_topic.py ... | demo_show.py events|transactions
       connect_convert.py ... | demo_show.py connect
"""
import json
import sys


def main():
    mode = sys.argv[1]
    for line in sys.stdin:
        r = json.loads(line)
        if mode == "connect":
            if "records" in r:
                print("Kafka Connect AvroConverter: %d records converted, %d errors" % (r["records"], r["errors"]))
            elif r.get("value"):
                after = r["value"]["after"] or r["value"]["before"]
                print("offset %d: %s op=%s after=%s" % (r["offset"], r["value_schema"], r["value"]["op"], json.dumps(after)))
            continue
        v = r["value"]
        if mode == "transactions":
            print("%-5s %s events=%s %s" % (v["status"], v["id"], v["event_count"], v["data_collections"] or ""))
            continue
        if v is None:
            print("offset %d: tombstone key=%s" % (r["offset"], json.dumps(r["key"])))
            continue
        img = v["after"] or v["before"]
        row = {k: img.get(k) for k in ("id", "email", "balance", "tags")}
        txn = (v.get("transaction") or {}).get("id")
        print("offset %d: op=%s key=%s txn=%s row=%s" % (r["offset"], v["op"], json.dumps(r["key"]), txn, json.dumps(row)))


if __name__ == "__main__":
    main()
