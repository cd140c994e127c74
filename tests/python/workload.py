"""The full MilvusClient workload through one URI, and the same searches through another.

Usage: workload.py PROXY_URI DIRECT_JSON
  PROXY_URI    e.g. unix:/run/milvus-connd/aliases/a.sock (no credentials)
  DIRECT_JSON  MilvusClient keyword arguments for a direct connection to the same server

Prints one JSON object: search hits through the proxy and directly, and query/delete counts.
"""
import json
import sys
import time

import numpy as np
from pymilvus import DataType, MilvusClient

DIM, ROWS = 128, 10_000


def main():
    proxy_uri, direct = sys.argv[1], json.loads(sys.argv[2])
    proxy = MilvusClient(uri=proxy_uri)
    name = f"workload_{int(time.time() * 1000)}"
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    proxy.create_collection(name, schema=schema)
    vectors = np.random.default_rng(7).random((ROWS, DIM), dtype=np.float32)
    for start in range(0, ROWS, 2_500):
        rows = [{"id": i, "vector": vectors[i].tolist()} for i in range(start, start + 2_500)]
        proxy.insert(name, rows)
    proxy.flush(name)
    index = proxy.prepare_index_params()
    index.add_index(field_name="vector", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 64})
    proxy.create_index(name, index)
    proxy.load_collection(name)
    queries = vectors[:5].tolist()
    params = {"metric_type": "L2", "params": {"nprobe": 64}}
    through_proxy = proxy.search(name, data=queries, limit=10, search_params=params)
    direct_client = MilvusClient(**direct)
    through_direct = direct_client.search(name, data=queries, limit=10, search_params=params)
    queried = proxy.query(name, filter="id < 100", output_fields=["id"])
    proxy.delete(name, filter="id < 100")
    after_delete = proxy.query(name, filter="id < 100", output_fields=["id"], consistency_level="Strong")
    proxy.release_collection(name)
    proxy.drop_collection(name)
    print(json.dumps({
        "proxy": [[hit["id"] for hit in hits] for hits in through_proxy],
        "direct": [[hit["id"] for hit in hits] for hits in through_direct],
        "queried": len(queried),
        "after_delete": len(after_delete),
        "dropped": not proxy.has_collection(name),
    }))


if __name__ == "__main__":
    main()
