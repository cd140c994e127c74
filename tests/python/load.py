"""One client process of the Milvus-kill test: searches in a loop, each with a 2 s budget,
until it has seen the outage and then 20 good searches in a row (or MAX_SECONDS pass).

Usage: load.py URI COLLECTION MAX_SECONDS. Prints "ready" once it searched, then a JSON
summary.
"""
import json
import sys
import time

import numpy as np
from pymilvus import MilvusClient

BUDGET = 2.0


def main():
    uri, name, max_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    client = MilvusClient(uri=uri)
    rng = np.random.default_rng()
    client.search(name, data=[rng.random(128, dtype=np.float32).tolist()], limit=3)
    print("ready", flush=True)  # the test kills Milvus once every client got here
    start = time.monotonic()
    ok = failed = streak = 0
    longest = 0.0
    errors = {}
    recovered = False
    slow = []
    while time.monotonic() - start < max_seconds:
        began = time.monotonic()
        try:
            client.search(name, data=[rng.random(128, dtype=np.float32).tolist()], limit=3, timeout=BUDGET)
            ok += 1
            streak += 1
        except Exception as err:  # noqa: BLE001 - every failure is counted, by kind
            failed += 1
            streak = 0
            kind = type(err).__name__ + ": " + str(err)[:120]
            errors[kind] = errors.get(kind, 0) + 1
            time.sleep(0.05)
        took = time.monotonic() - began
        if took > BUDGET + 1:
            slow.append({"at": round(began - start, 2), "took": round(took, 2)})
        longest = max(longest, took)
        if failed and streak >= 20:
            recovered = True
            break
    print(json.dumps({"ok": ok, "failed": failed, "recovered": recovered,
                      "longest_call": longest, "slow_calls": slow, "errors": errors}))


if __name__ == "__main__":
    main()
