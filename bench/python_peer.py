#!/usr/bin/python3
"""The Python peer of `npm run bench`: TorchRec's unsharded EmbeddingBagCollection forward, the way
TorchRec computes it, on this machine's PyTorch (Debian's python3-torch, run with /usr/bin/python3).

TorchRec itself is not installed here, so its forward path is reproduced line for line from
torchrec/modules/embedding_modules.py and torchrec/sparse/jagged_tensor.py (v0.3.2, the version the
golden vectors come from), with fbgemm's asynchronous_complete_cumsum replaced by torch.cumsum
(fbgemm is not in Debian's torch either):

    feature_dict = features.to_dict()          # split values/lengths per key, offsets per key
    for each table, for each of its features:
        res = embedding_bag(input=f.values(), offsets=f.offsets(), per_sample_weights=None).float()
    data = torch.cat(pooled_embeddings, dim=1)
    return KeyedTensor(keys, length_per_key, data)

one torch.nn.EmbeddingBag(mode='sum', include_last_offset=True) per table. Every timed call gets a new
KeyedJaggedTensor (TorchRec caches to_dict() on the KJT object, and a real batch is always new).

Usage: python_peer.py '<json>' with keys tables, rows, dim, dtype ('fp32'|'fp16'), batch, pooling,
variants ({name: [files of T*B*L int64, key-major]}), warmup, runs, calls, threads, and optionally
train: true (forward + backward + torch.optim.Adagrad over nn.EmbeddingBag(sparse=True)).
Prints one JSON line: {impl, variants: {name: {median_ms (per call), runs_ms}}, peak_rss_kb, rss_kb,
rss_after_init_kb, threads, torch}.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch


class JaggedTensor:
    def __init__(self, values, lengths, offsets, weights=None):
        self._values, self._lengths, self._offsets, self._weights = values, lengths, offsets, weights

    def values(self):
        return self._values

    def offsets(self):
        return self._offsets

    def weights_or_none(self):
        return self._weights


def _to_offsets(lengths):
    # torchrec: torch.ops.fbgemm.asynchronous_complete_cumsum(lengths)
    return torch.cat([torch.zeros(1, dtype=lengths.dtype), torch.cumsum(lengths, dim=0)])


class KeyedJaggedTensor:
    def __init__(self, keys, values, lengths, stride, weights=None):
        self._keys, self._values, self._lengths, self._stride, self._weights = keys, values, lengths, stride, weights
        self._length_per_key = None
        self._jt_dict = None

    def length_per_key(self):
        # torchrec: _maybe_compute_length_per_key
        if self._length_per_key is None:
            self._length_per_key = torch.sum(self._lengths.view(-1, self._stride), dim=1).tolist()
        return self._length_per_key

    def to_dict(self):
        # torchrec: _maybe_compute_kjt_to_jt_dict
        if self._jt_dict is not None:
            return self._jt_dict
        length_per_key = self.length_per_key()
        values_list = torch.split(self._values, length_per_key)
        lengths_tuple = torch.unbind(self._lengths.view(-1, self._stride), dim=0)
        weights_list = torch.split(self._weights, length_per_key) if self._weights is not None else None
        jt_dict = {}
        for idx, key in enumerate(self._keys):
            length = lengths_tuple[idx]
            jt_dict[key] = JaggedTensor(
                values=values_list[idx],
                lengths=length,
                offsets=_to_offsets(length),
                weights=weights_list[idx] if weights_list is not None else None,
            )
        self._jt_dict = jt_dict
        return jt_dict


class KeyedTensor:
    def __init__(self, keys, length_per_key, values):
        self._keys, self._length_per_key, self._values = keys, length_per_key, values

    def values(self):
        return self._values


def fill(weight, seed):
    """Small pseudo-random values in [-0.01, 0.01) (the timing does not depend on them). uniform_ draws
    serially (about a minute for H's 2G values here); this uses torch's parallel elementwise ops, in
    chunks so that an fp16 table never has a full-size float copy."""
    flat = weight.data.view(-1)
    chunk = 1 << 24
    with torch.no_grad():
        for start in range(0, flat.numel(), chunk):
            n = min(chunk, flat.numel() - start)
            x = torch.arange(start, start + n, dtype=torch.float64).mul_(0.6180339887498949).add_(seed * 0.1234567)
            flat[start : start + n].copy_(x.frac_().sub_(0.5).mul_(0.02))


class EmbeddingBagCollection(torch.nn.Module):
    def __init__(self, tables, rows, dim, dtype, sparse=False):
        super().__init__()
        self.embedding_bags = torch.nn.ModuleDict()
        self._feature_names = []
        for t in range(tables):
            bag = torch.nn.EmbeddingBag(
                rows, dim, mode="sum", include_last_offset=True, sparse=sparse, _weight=torch.empty(rows, dim, dtype=dtype)
            )
            fill(bag.weight, t)
            self.embedding_bags[f"t{t}"] = bag
            self._feature_names.append([f"f{t}"])
        self._embedding_names = [f for names in self._feature_names for f in names]
        self._lengths_per_embedding = [dim] * len(self._embedding_names)

    def forward(self, features):
        # torchrec/modules/embedding_modules.py, EmbeddingBagCollection.forward (unweighted)
        pooled_embeddings = []
        feature_dict = features.to_dict()
        for i, embedding_bag in enumerate(self.embedding_bags.values()):
            for feature_name in self._feature_names[i]:
                f = feature_dict[feature_name]
                res = embedding_bag(input=f.values(), offsets=f.offsets(), per_sample_weights=None).float()
                pooled_embeddings.append(res)
        data = torch.cat(pooled_embeddings, dim=1)
        return KeyedTensor(keys=self._embedding_names, values=data, length_per_key=self._lengths_per_embedding)


def memory_kb():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0])
    return out


def main():
    cfg = json.loads(sys.argv[1])
    threads = int(cfg.get("threads") or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    T, N, D, B, L = (int(cfg[k]) for k in ("tables", "rows", "dim", "batch", "pooling"))
    dtype = torch.float16 if cfg["dtype"] == "fp16" else torch.float32
    train = bool(cfg.get("train"))
    rss_before_init = memory_kb().get("VmRSS", -1)
    ebc = EmbeddingBagCollection(T, N, D, dtype, sparse=train)
    rss_after_init = memory_kb().get("VmRSS", -1)
    keys = [f"f{t}" for t in range(T)]
    lengths = torch.full((T * B,), L, dtype=torch.int64)
    warmup, runs, calls = int(cfg["warmup"]), int(cfg["runs"]), int(cfg["calls"])

    if train:
        optimizer = torch.optim.Adagrad(ebc.parameters(), lr=float(cfg.get("lr", 0.01)))
        grad = torch.randn(B, T * D)

        def call(values):
            kt = ebc(KeyedJaggedTensor(keys, values, lengths, B))
            (kt.values() * grad).sum().backward()
            optimizer.step()
            optimizer.zero_grad()

    else:

        def call(values):
            with torch.no_grad():
                ebc(KeyedJaggedTensor(keys, values, lengths, B))

    results = {}
    for name, files in cfg["variants"].items():
        batches = [torch.from_numpy(np.fromfile(path, dtype=np.int64, count=T * B * L)) for path in files]
        n = 0
        for _ in range(warmup * calls):
            call(batches[n % len(batches)])
            n += 1
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(calls):
                call(batches[n % len(batches)])
                n += 1
            times.append((time.perf_counter() - start) * 1000.0 / calls)
        results[name] = {"median_ms": statistics.median(times), "runs_ms": times}
    mem = memory_kb()
    print(
        json.dumps(
            {
                "impl": "python",
                "variants": results,
                "peak_rss_kb": mem.get("VmHWM", -1),
                "rss_kb": mem.get("VmRSS", -1),
                "rss_before_init_kb": rss_before_init,
                "rss_after_init_kb": rss_after_init,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
