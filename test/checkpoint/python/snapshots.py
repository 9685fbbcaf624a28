"""Python's side of the snapshot tests (see snapshot_format.py for the format).

  snapshots.py write <out_dir>         writes snapshots in torchsnapshot's layouts that the golden samples
                                       do not cover (chunked, sharded over 2 ranks, slabs at odd offsets,
                                       torch_save pieces, bf16/fp64, YAML metadata); prints per snapshot
                                       and logical path the sha256 of the tensor as float32
  snapshots.py check <dir> <ebc|large> reads a snapshot Node wrote the way torchsnapshot's reader would
                                       (sharded ones too: ShardedTensor shards merged over the ranks into
                                       whole tensors, checked to tile them), loads its model state into an
                                       nn.Module (strict), and prints every tensor's dtype, shape and sha256
                                       plus extra_state
"""
import hashlib
import json
import os
import sys

import torch
from torch import nn

from snapshot_format import Writer, available_entries, inflate, load_manifest, raw_bytes, read_tensor, sha, write_metadata


def f32_sha(t):
    return hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest()


def weights(seed, shape, dtype):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype)


def write_one(root, build, world_size=1):
    os.makedirs(root, exist_ok=True)
    manifest, expected = {}, {}
    writers = [Writer(root, r, manifest) for r in range(world_size)]
    build(writers, expected)
    expected["extra_state"] = writers[0].expected_extra
    for w in writers:
        w.flush()
    write_metadata(root, manifest, world_size)
    extra_state = expected.pop("extra_state")
    tensors = {k: {"sha256_f32": f32_sha(v), "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in expected.items()}
    return {"tensors": tensors, "extra_state": extra_state}


def extra(w, step=77, walltime=12.25):
    w.expected_extra = {"step": step, "walltime": walltime}
    w.container("extra_state", "dict", ["step", "walltime"])
    w.primitive("extra_state/step", step)
    w.primitive("extra_state/walltime", walltime)


def chunked_files(ws, exp):
    w = ws[0]
    user, tweet = weights(1, (1000, 16), torch.float32), weights(2, (500, 8), torch.float16)
    w.container("model", "OrderedDict", ["ebc.embedding_bags.user.weight", "ebc.embedding_bags.tweet.weight"])
    w.chunked("model/ebc.embedding_bags.user.weight", user, 3)
    w.tensor("model/ebc.embedding_bags.tweet.weight", tweet)
    extra(w)
    exp["model/ebc.embedding_bags.user.weight"], exp["model/ebc.embedding_bags.tweet.weight"] = user, tweet


def chunked_slab(ws, exp):
    w = ws[0]
    # 499 x 3 fp16 = 2994 bytes first: every later range in the slab starts 2 bytes off 4-byte alignment.
    tweet, user = weights(3, (499, 3), torch.float16), weights(4, (1000, 16), torch.float32)
    w.container("model", "OrderedDict", ["ebc.embedding_bags.tweet.weight", "ebc.embedding_bags.user.weight"])
    w.tensor("model/ebc.embedding_bags.tweet.weight", tweet, batched=True)
    w.chunked("model/ebc.embedding_bags.user.weight", user, 4, batched=True)
    extra(w, 5, 0.5)
    exp["model/ebc.embedding_bags.user.weight"], exp["model/ebc.embedding_bags.tweet.weight"] = user, tweet


def sharded(ws, exp):
    user, tweet = weights(5, (1000, 16), torch.float32), weights(6, (500, 8), torch.float16)
    for r, w in enumerate(ws):
        w.container("model", "OrderedDict", ["ebc.embedding_bags.user.weight", "ebc.embedding_bags.tweet.weight"])
        # user row-wise (TorchRec RW), tweet column-wise (CW); rank 0 batches its shards into a slab
        w.sharded("model/ebc.embedding_bags.user.weight", [([500 * r, 0], user[500 * r:500 * (r + 1)])], batched=r == 0)
        w.sharded("model/ebc.embedding_bags.tweet.weight", [([0, 4 * r], tweet[:, 4 * r:4 * (r + 1)])], batched=r == 0)
        extra(w, 31, 2.0)
    exp["model/ebc.embedding_bags.user.weight"], exp["model/ebc.embedding_bags.tweet.weight"] = user, tweet


def mixed(ws, exp):
    w = ws[0]
    user, tweet = weights(7, (1000, 16), torch.float32), weights(8, (500, 8), torch.float16)
    bf, f64 = weights(9, (10, 4), torch.bfloat16), weights(10, (10, 4), torch.float64)
    names = ["ebc.embedding_bags.user.weight", "ebc.embedding_bags.tweet.weight", "ebc.embedding_bags.bf.weight",
             "ebc.embedding_bags.wide.weight", "ebc.embedding_bags.ids.weight"]
    w.container("model", "OrderedDict", names)
    w.tensor("model/ebc.embedding_bags.user.weight", user, serializer="torch_save")
    w.tensor("model/ebc.embedding_bags.tweet.weight", tweet)
    w.tensor("model/ebc.embedding_bags.bf.weight", bf, batched=True)
    w.tensor("model/ebc.embedding_bags.wide.weight", f64, batched=True)
    w.tensor("model/ebc.embedding_bags.ids.weight", torch.arange(40).view(10, 4))
    extra(w)
    for n, t in zip(names, [user, tweet, bf, f64]):
        exp[f"model/{n}"] = t


def pretrained_src(ws, exp):
    w = ws[0]
    user, item_a, item_b = weights(11, (50, 4), torch.float32), weights(12, (30, 4), torch.float32), weights(13, (30, 4), torch.float32)
    author, tweet = weights(14, (20, 4), torch.float16), weights(15, (40, 4), torch.float32)
    names = ["ebc.embedding_bags.user.weight", "ebc.embedding_bags.item.weight", "other.embedding_bags.item.weight",
             "author_table_weights", "ebc.embedding_bags.tweet.weight"]
    w.container("model", "OrderedDict", names)
    for n, t in zip(names, [user, item_a, item_b, author, tweet]):
        w.tensor(f"model/{n}", t, batched=True)
        exp[f"model/{n}"] = t
    # optimizer state mentions user too: the exact suffix must win over it
    w.container("optimizer", "dict", ["state", "param_groups"])
    w.container("optimizer/state", "dict", ["ebc.embedding_bags.user.weight"])
    w.container("optimizer/state/ebc.embedding_bags.user.weight", "dict", ["user.momentum1"])
    w.tensor("optimizer/state/ebc.embedding_bags.user.weight/user.momentum1", torch.ones(50))
    w.container("optimizer/param_groups", "list")
    extra(w)


BUILDERS = {"chunked_files": (chunked_files, 1), "chunked_slab": (chunked_slab, 1), "sharded": (sharded, 2),
            "mixed": (mixed, 1), "pretrained_src": (pretrained_src, 1)}


def write(out):
    result = {name: write_one(os.path.join(out, name), fn, ws) for name, (fn, ws) in BUILDERS.items()}
    print(json.dumps(result))


def check_sharded(logical, e):
    """A ShardedTensor merged over the ranks as torchsnapshot merges it (manifest_ops: every rank's shards,
    sorted by offsets) is read by filling an empty tensor of the shards' extent with each shard
    (io_preparers/sharded_tensor.py): a hole would be uninitialised memory and an overlap ambiguous, so the
    oracle demands an exact tiling, and torchsnapshot's file names: sharded/<logical path>_<offsets>."""
    shards = sorted(e["shards"], key=lambda s: s["offsets"])
    assert shards, f"{logical}: no shard on any rank"
    shape = [max(s["offsets"][d] + s["sizes"][d] for s in shards) for d in range(len(shards[0]["sizes"]))]
    covered = torch.zeros(shape, dtype=torch.int32)
    for s in shards:
        assert s["tensor"]["shape"] == s["sizes"], f"{logical}: shard shape {s['tensor']['shape']} != sizes {s['sizes']}"
        want = f"sharded/{logical}_" + "_".join(str(o) for o in s["offsets"])
        assert s["tensor"]["location"] == want, f"{logical}: shard at {s['tensor']['location']}, torchsnapshot names it {want}"
        view = covered
        for d, (o, n) in enumerate(zip(s["offsets"], s["sizes"])):
            view = view.narrow(d, o, n)
        view += 1
    assert bool((covered == 1).all()), f"{logical}: shards overlap or leave holes"


def check(root, layout):
    meta, manifest = load_manifest(root)
    ranks = {int(p.split("/")[0]) for p in manifest}
    assert ranks == set(range(meta["world_size"])), f"manifest ranks {sorted(ranks)} but world_size {meta['world_size']}"
    out = {"version": meta["version"], "world_size": meta["world_size"], "tensors": {}}
    for logical, (kind, e) in available_entries(manifest).items():
        if kind == "ShardedTensor":
            check_sharded(logical, e)
        if kind == "Tensor" and e["replicated"] and meta["world_size"] > 1:
            assert e["location"] == f"replicated/{logical}", f"{logical}: replicated tensor at {e['location']}"
        if kind in ("Tensor", "ChunkedTensor", "ShardedTensor"):
            t = read_tensor(root, kind, e)
            out["tensors"][logical] = {"dtype": str(t.dtype), "shape": list(t.shape), "sha256_le": sha(raw_bytes(t)),
                                       "sha256_f32": f32_sha(t)}
    apps = sorted({p.split("/")[1] for p in manifest if p.startswith("0/")})
    out["app_state"] = apps
    model = inflate(root, manifest, "model")
    # Managed-id maps (int64 tensors beside a table's weight) are torchrec-node's extension, not parameters.
    params = {k: v for k, v in model.items() if k.endswith(".weight")}
    tables = [(k.split(".")[-2], v.shape[0], v.shape[1], v.dtype) for k, v in params.items()]
    module = nn.Module()
    module.embedding_bags = nn.ModuleDict({n: nn.EmbeddingBag(a, b).to(d) for n, a, b, d in tables})
    if layout == "large":
        outer = nn.Module()
        outer.ebc = module
        module = outer
    module.load_state_dict(params, strict=True)
    out["model_keys"] = list(model.keys())
    if "optimizer" in apps:
        opt = inflate(root, manifest, "optimizer")
        out["optimizer"] = {"state": {k: sorted(v.keys()) for k, v in opt["state"].items()},
                            "param_groups": opt["param_groups"]}
    if "extra_state" in apps:
        out["extra_state"] = inflate(root, manifest, "extra_state")
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
