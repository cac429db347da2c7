"""Read a Redis target's rows with redis-py (a client Sluice did not write).

Usage: redis_rows.py URL PREFIX COLUMN[,COLUMN…]
Prints one JSON object: {"<key parts>": [<column value or null>, …]} for every key
`<PREFIX>:<key parts>` (the key parts as stored, escapes included); a missing field is null.
"""

import json
import sys

import redis


def main() -> None:
    url, prefix, columns = sys.argv[1], sys.argv[2].encode(), sys.argv[3].split(",")
    r = redis.Redis.from_url(url)
    pattern = bytearray()
    for c in prefix:
        if c in b"*?[]\\":
            pattern.append(0x5C)
        pattern.append(c)
    pattern += b":*"
    rows = {}
    for key in r.scan_iter(match=bytes(pattern), count=1000):
        fields = r.hgetall(key)
        rows[key[len(prefix) + 1 :].decode()] = [
            fields[c.encode()].decode() if c.encode() in fields else None for c in columns
        ]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
