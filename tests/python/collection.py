"""Creates, fills and loads a collection (prepare), inserts one very large batch (big),
or drops it (drop).

Usage: collection.py URI NAME prepare|big|drop [MiB]
"""
import json
import sys

import numpy as np
from pymilvus import DataType, MilvusClient

DIM = 128


def main():
    uri, name, action = sys.argv[1], sys.argv[2], sys.argv[3]
    client = MilvusClient(uri=uri)
    if action == "prepare":
        schema = MilvusClient.create_schema(auto_id=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=index)
        vectors = np.random.default_rng(3).random((2_000, DIM), dtype=np.float32)
        client.insert(name, [{"vector": v.tolist()} for v in vectors])
        client.flush(name)
        client.load_collection(name)
        print(json.dumps({"prepared": name}))
    elif action == "big":
        mib = int(sys.argv[4])
        rows = mib * 1024 * 1024 // (DIM * 4)
        vectors = np.random.default_rng(5).random((rows, DIM), dtype=np.float32)
        result = client.insert(name, [{"vector": v.tolist()} for v in vectors])
        # A large answer as well: many hits for many queries.
        hits = client.search(name, data=vectors[:200].tolist(), limit=1000)
        print(json.dumps({"inserted": result["insert_count"], "rows": rows,
                          "hits": sum(len(h) for h in hits)}))
    elif action == "drop":
        client.release_collection(name)
        client.drop_collection(name)
        print(json.dumps({"dropped": name}))


if __name__ == "__main__":
    main()
