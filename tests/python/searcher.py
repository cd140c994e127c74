"""Runs N searches on an existing loaded collection, as one client process among many.

Usage: searcher.py URI COLLECTION N. Exits non-zero on the first failed search.
"""
import sys

import numpy as np
from pymilvus import MilvusClient


def main():
    uri, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = MilvusClient(uri=uri)
    rng = np.random.default_rng()
    for _ in range(count):
        hits = client.search(name, data=[rng.random(128, dtype=np.float32).tolist()], limit=5)
        if len(hits[0]) != 5:
            sys.exit(f"short result: {hits}")
    print("ok", count)


if __name__ == "__main__":
    main()
