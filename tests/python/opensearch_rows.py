"""Read an OpenSearch index's documents with opensearch-py (a client Sluice did not write).

Usage: opensearch_rows.py URL INDEX COLUMN[,COLUMN…]
Refreshes the index, then prints one JSON object {"<_id>": [<field as text, or null>, …]} of
every document (an index that does not exist reads as empty). Fields are rendered as text:
strings as they are, numbers in decimal, booleans true/false, objects and arrays as compact JSON
with sorted keys.
"""

import json
import sys

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import NotFoundError


def text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), sort_keys=True)
    return str(v)


def main() -> None:
    url, index, columns = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    client = OpenSearch(hosts=[url], timeout=60)  # a loaded 2-core CI machine: refresh + scan can take seconds
    rows = {}
    try:
        client.indices.refresh(index=index)
        for hit in helpers.scan(client, index=index, query={"query": {"match_all": {}}}):
            src = hit["_source"]
            rows[hit["_id"]] = [text(src.get(c)) for c in columns]
    except NotFoundError:
        pass
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
