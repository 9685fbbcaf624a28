"""Python's side of the state-dict interop tests.

  state_dicts.py write <out_dir>    writes the torch.save files the Node tests load; prints, per file,
                                    the sha256 of each tensor as C-order float32 (tensor.float())
  state_dicts.py half <file>          fp16 rounding of a raw float32 file by torch, as hashes
  state_dicts.py read <file> <ebc|large>
                                    torch.load's a file Node wrote; prints each tensor's dtype, shape and
                                    sha256 of its little-endian bytes, and checks that an nn.Module of the
                                    same layout accepts it with load_state_dict(strict=True)
"""
import json
import os
import sys
from collections import OrderedDict

import torch
from torch import nn

TABLES = [("user", 12, 4, torch.float32), ("tweet", 7, 3, torch.float16)]


def sha_f32(t):
    import hashlib
    return hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest()


def sha_le(t):
    import hashlib
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()


class Embeddings(nn.Module):
    """the-algorithm-ml's LargeEmbeddings layout: .ebc.embedding_bags is a ModuleDict of EmbeddingBag."""

    def __init__(self, tables):
        super().__init__()
        self.ebc = nn.Module()
        self.ebc.embedding_bags = nn.ModuleDict(
            {name: nn.EmbeddingBag(n, d, mode="sum").to(dtype) for name, n, d, dtype in tables})


class Model(nn.Module):
    """A recap-like model held as `model` by a wrapper: keys model.embeddings.ebc.embedding_bags.<t>.weight."""

    def __init__(self, tables):
        super().__init__()
        self.model = nn.Module()
        self.model.embeddings = Embeddings(tables)
        self.model.dense = nn.Linear(3, 2)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def summary(sd):
    return {k: {"sha256_f32": sha_f32(v), "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in sd.items()}


def write(out):
    torch.manual_seed(1234)
    os.makedirs(out, exist_ok=True)
    files = {}

    def save(name, obj, **kw):
        path = os.path.join(out, name)
        torch.save(obj, path, **kw)
        files[name] = summary(obj) if isinstance(obj, dict) else {}

    model = Model(TABLES)
    # model.embeddings.ebc.embedding_bags.<t>.weight plus model.dense.*: fp32 and fp16 tables.
    save("model.pt", model.state_dict())
    # the EBC alone: embedding_bags.<t>.weight
    save("ebc.pt", model.model.embeddings.ebc.state_dict())
    # only one of the two tables
    partial = OrderedDict((k, v) for k, v in model.model.embeddings.ebc.state_dict().items() if ".user." in k)
    save("user_only.pt", partial)
    # bf16 and fp64 weights (converted on load), saved from modules of those dtypes
    wide = Embeddings([("user", 12, 4, torch.float64), ("tweet", 7, 3, torch.bfloat16)])
    save("wide.pt", wide.state_dict())
    # views: a transposed tensor (strides (1, N)) and a slice at a storage offset of a larger storage
    base_t = torch.randn(4, 12)
    big = torch.randn(20, 3).half()
    views = OrderedDict([("embedding_bags.user.weight", base_t.t()), ("embedding_bags.tweet.weight", big[5:12])])
    save("views.pt", views)
    # two tables sharing one storage
    shared = torch.randn(12 * 4 + 7 * 3)
    save("shared.pt", OrderedDict([("embedding_bags.user.weight", shared[:48].view(12, 4)),
                                   ("embedding_bags.tweet.weight", shared[48:].view(7, 3))]))
    # wrong shape for user
    save("bad_shape.pt", OrderedDict([("embedding_bags.user.weight", torch.randn(11, 4)),
                                      ("embedding_bags.tweet.weight", torch.randn(7, 3).half())]))
    # an integer tensor where weights belong
    save("int_weights.pt", OrderedDict([("embedding_bags.user.weight", torch.arange(48).view(12, 4)),
                                        ("embedding_bags.tweet.weight", torch.randn(7, 3).half())]))
    # the same table under two prefixes (ambiguous without a prefix)
    save("ambiguous.pt", OrderedDict([("a.embedding_bags.user.weight", torch.randn(12, 4)),
                                      ("b.embedding_bags.user.weight", torch.randn(12, 4)),
                                      ("a.embedding_bags.tweet.weight", torch.randn(7, 3).half())]))
    # a pickle with a global outside the allow-list (a set goes through builtins.set)
    torch.save({"embedding_bags.user.weight": torch.randn(12, 4), "extra": {1, 2}}, os.path.join(out, "set.pt"))
    # a pickle that would run a shell command if unpickled by a general unpickler
    torch.save({"embedding_bags.user.weight": torch.randn(12, 4), "x": Evil(os.path.join(out, "pwned"))},
               os.path.join(out, "evil.pt"))
    # the pre-1.6 (non-zip) format
    torch.save(model.model.embeddings.ebc.state_dict(), os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
    print(json.dumps(files))


def read(path, layout):
    sd = torch.load(path)
    assert type(sd) is OrderedDict, f"expected an OrderedDict, got {type(sd)}"
    meta = getattr(sd, "_metadata", None)
    out = {"keys": list(sd.keys()), "metadata": list(meta.keys()) if meta is not None else None, "tensors": {}}
    for k, v in sd.items():
        out["tensors"][k] = {"dtype": str(v.dtype), "shape": list(v.shape), "sha256_le": sha_le(v), "sha256_f32": sha_f32(v),
                             "contiguous": v.is_contiguous()}
    tables = [(k.split(".")[-2], v.shape[0], v.shape[1], v.dtype) for k, v in sd.items()]
    module = Embeddings(tables) if layout == "large" else Embeddings(tables).ebc
    module.load_state_dict(sd, strict=True)
    out["load_state_dict"] = "ok"
    print(json.dumps(out))


def half(path):
    """float32 raw file → torch's fp16 rounding (nearest even), and back to float32, as hashes."""
    import hashlib
    x = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.float32)
    print(json.dumps({"half_sha": hashlib.sha256(x.half().numpy().tobytes()).hexdigest(),
                      "half_back_sha": hashlib.sha256(x.half().float().numpy().tobytes()).hexdigest()}))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "half":
        half(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3])
