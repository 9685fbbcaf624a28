#!/usr/bin/python3
"""TorchRec's way of remapping managed ids, timed on this machine's PyTorch: the lookup half of
MCHManagedCollisionModule.remap (torchrec/modules/mc_modules.py), which keeps a table's resident raw
ids sorted and, per batch, binary-searches every id among them:

    i = searchsorted(sorted_residents, values)        # where each id would sit
    hit = sorted_residents[i] == values               # resident or not
    rows[hit] = row_of_sorted[i[hit]]; rows[~hit] = a row outside the residents'

TorchRec is not installed here, so those steps are written out with torch ops (its misses are hashed
into a second region; every id of this bench is resident, so that branch never runs and is left out).
bench/managed_ids.ts runs it on the batches its own forwards remap, for scale: what the remap costs the
TorchRec way beside what it costs in torchrec-node's hash map.

Usage: python_mch_remap.py '<json>' with keys residents (file of int64 raw ids; resident k holds row k),
batches ([file of T*B*L int64 raw ids, key-major]), tables, reps, threads.
Prints one JSON line: {median_ms (one batch, every table), runs_ms, rows_checksum, torch, threads}.
"""
import json
import statistics
import sys
import time

import numpy as np
import torch


def main():
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job["threads"])
    residents = torch.from_numpy(np.fromfile(job["residents"], dtype=np.int64))
    # Every table holds the same residents in this bench, but each keeps its own sorted copy, as
    # TorchRec's per-table modules do.
    tables = []
    for _ in range(job["tables"]):
        sorted_ids, order = torch.sort(residents)
        tables.append((sorted_ids, order))
    default_row = residents.numel()
    batches = [torch.from_numpy(np.fromfile(f, dtype=np.int64)) for f in job["batches"]]

    def remap(values):
        per_table = values.numel() // len(tables)
        out = torch.empty_like(values)
        for t, (sorted_ids, row_of_sorted) in enumerate(tables):
            v = values[t * per_table : (t + 1) * per_table]
            i = torch.searchsorted(sorted_ids, v).clamp_(max=sorted_ids.numel() - 1)
            hit = sorted_ids[i] == v
            rows = torch.full_like(v, default_row)
            rows[hit] = row_of_sorted[i[hit]]
            out[t * per_table : (t + 1) * per_table] = rows
        return out

    for b in batches:
        remap(b)
    runs = []
    checksum = 0
    for k in range(job["reps"]):
        b = batches[k % len(batches)]
        t0 = time.perf_counter()
        rows = remap(b)
        runs.append((time.perf_counter() - t0) * 1e3)
        checksum += int(rows.sum())
    print(
        json.dumps(
            {
                "median_ms": statistics.median(runs),
                "runs_ms": runs,
                "rows_checksum": checksum,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
