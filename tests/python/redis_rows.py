"""Read a Redis target's rows with redis-py (a client Sluice did not write).

Usage: redis_rows.py URL PREFIX COLUMN[,COLUMN…]
Prints one JSON object: {"<key part>": [<column value or null>, …]} for every key
`<PREFIX>:<key part>` (key parts unescaped: `\\:` → `:`, `\\\\` → `\\`); a missing field is null.
"""

import json
import sys

import redis


def unescape(part: bytes) -> str:
    out, i = bytearray(), 0
    while i < len(part):
        if part[i] == 0x5C and i + 1 < len(part):
            i += 1
        out.append(part[i])
        i += 1
    return out.decode()


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
        rows[unescape(key[len(prefix) + 1 :])] = [
            fields[c.encode()].decode() if c.encode() in fields else None for c in columns
        ]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
