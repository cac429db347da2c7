"""Run a prefix query on one field of an index with opensearch-py (a client Sluice did not write).

Usage: opensearch_search.py URL INDEX FIELD PREFIX
Refreshes the index and prints the `_id`s of every matching document as a sorted JSON list.
"""

import json
import sys

from opensearchpy import OpenSearch, helpers


def main() -> None:
    url, index, field, prefix = sys.argv[1:5]
    client = OpenSearch(hosts=[url], timeout=60)
    client.indices.refresh(index=index)
    query = {"query": {"prefix": {field: prefix}}}
    ids = sorted(hit["_id"] for hit in helpers.scan(client, index=index, query=query))
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
