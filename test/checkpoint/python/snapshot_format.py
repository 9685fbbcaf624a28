"""torchsnapshot's on-disk format, re-implemented from its source (torchsnapshot 0.1.0:
manifest.py, flatten.py, batcher.py, io_preparer.py, io_preparers/{chunked,sharded}_tensor.py)
for tests on machines where torchsnapshot itself cannot be installed.

Writer: lays tensors out as torchsnapshot does (per-rank files, `batched/<uuid4>` slabs with byte
ranges, ChunkedTensor chunks `<path>_<row>_0`, ShardedTensor shards `sharded/<path>_<offsets>`) and
dumps the metadata with PyYAML's CSafeDumper like SnapshotMetadata.to_yaml.

Reader: applies the checks torchsnapshot's reader makes (SnapshotMetadata.from_yaml's constructor
calls, get_available_entries, flatten.inflate) and reads every tensor with torch.frombuffer.
"""
import base64
import hashlib
import os
import struct
import uuid
from collections import OrderedDict, defaultdict
from urllib.parse import unquote

import torch
import yaml

try:
    from yaml import CSafeDumper as Dumper, CSafeLoader as Loader
except ImportError:  # pragma: no cover
    from yaml import Dumper, Loader

STRING_TO_DTYPE = {
    str(d): d
    for d in [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex128, torch.complex64,
              torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.qint32,
              torch.qint8, torch.quint8]
}
PRIMITIVES = ["int", "str", "bool", "bytes", "float"]
TENSOR_KEYS = {"location", "serializer", "dtype", "shape", "replicated"}


def raw_bytes(t):
    """C-order little-endian bytes (torchsnapshot's tensor_as_memoryview)."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def key_to_filename(s):
    return s.replace("%", "%25").replace("/", "%2F")


class Writer:
    """One rank's writes; `batched` puts tensors into this rank's slab (batcher.py)."""

    def __init__(self, root, rank, manifest):
        self.root, self.rank, self.manifest = root, rank, manifest
        self.slab = bytearray()
        self.slab_location = os.path.join("batched", str(uuid.uuid4()))

    def _file(self, location, data):
        path = os.path.join(self.root, location)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def tensor_entry(self, location, t, batched):
        data = raw_bytes(t)
        entry = {"type": "Tensor", "location": location, "serializer": "buffer_protocol", "dtype": str(t.dtype),
                 "shape": list(t.shape), "replicated": False, "byte_range": None}
        if batched:
            start = len(self.slab)
            self.slab += data
            entry["location"], entry["byte_range"] = self.slab_location, [start, start + len(data)]
        else:
            self._file(location, data)
        return entry

    def torch_save_entry(self, location, t):
        path = os.path.join(self.root, location)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save(t, path)
        return {"type": "Tensor", "location": location, "serializer": "torch_save", "dtype": str(t.dtype),
                "shape": list(t.shape), "replicated": False, "byte_range": None}

    def container(self, path, kind, keys=None):
        self.manifest[f"{self.rank}/{path}"] = {"type": kind} if kind == "list" else {"type": kind, "keys": keys}

    def tensor(self, path, t, batched=False, serializer="buffer_protocol"):
        location = f"{self.rank}/{path}"
        if serializer == "torch_save":
            self.manifest[location] = self.torch_save_entry(location, t)
        else:
            self.manifest[location] = self.tensor_entry(location, t, batched)

    def chunked(self, path, t, n_chunks, batched=False):
        """ChunkedTensorIOPreparer.prepare_write: torch.chunk along dim 0."""
        chunks, offsets = [], [0] * t.ndim
        for piece in torch.chunk(t, n_chunks, dim=0):
            suffix = "_".join(str(x) for x in offsets)
            entry = self.tensor_entry(f"{self.rank}/{path}_{suffix}", piece, batched)
            chunks.append({"offsets": offsets[:], "sizes": list(piece.shape), "tensor": entry})
            offsets[0] += piece.shape[0]
        self.manifest[f"{self.rank}/{path}"] = {"type": "ChunkedTensor", "dtype": str(t.dtype), "shape": list(t.shape),
                                               "chunks": chunks, "replicated": False}

    def sharded(self, path, shards, batched=False):
        """ShardedTensorIOPreparer.prepare_write for this rank's local shards [(offsets, tensor)]."""
        out = []
        for offsets, piece in shards:
            suffix = "_".join(str(i) for i in offsets)
            entry = self.tensor_entry(f"sharded/{path}_{suffix}", piece, batched)
            out.append({"offsets": list(offsets), "sizes": list(piece.shape), "tensor": entry})
        self.manifest[f"{self.rank}/{path}"] = {"type": "ShardedTensor", "shards": out}

    def primitive(self, path, value):
        name = type(value).__name__
        if name == "float":
            serialized, readable = base64.b64encode(struct.pack("d", value)).decode(), str(value)
        else:
            serialized, readable = str(value), None
        self.manifest[f"{self.rank}/{path}"] = {"type": name, "serialized_value": serialized, "replicated": False,
                                               "readable": readable}

    def flush(self):
        if self.slab:
            self._file(self.slab_location, bytes(self.slab))


def write_metadata(root, manifest, world_size):
    text = yaml.dump({"version": "0.1.0", "world_size": world_size, "manifest": manifest}, sort_keys=False, Dumper=Dumper)
    with open(os.path.join(root, ".snapshot_metadata"), "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------- reader


def load_manifest(root):
    with open(os.path.join(root, ".snapshot_metadata")) as f:
        d = yaml.load(f.read(), Loader=Loader)
    assert set(d) == {"version", "world_size", "manifest"}, f"SnapshotMetadata(**d) would fail: keys {sorted(d)}"
    manifest = {}
    for path, entry in d["manifest"].items():
        entry = dict(entry)
        kind = entry.pop("type")
        if kind == "list":
            assert entry == {}, f"{path}: ListEntry(**{entry}) would fail"
        elif kind in ("dict", "OrderedDict"):
            assert set(entry) == {"keys"}, f"{path}: DictEntry(**{entry}) would fail"
        elif kind in PRIMITIVES:
            assert set(entry) == {"serialized_value", "replicated", "readable"}, f"{path}: PrimitiveEntry keys {sorted(entry)}"
        elif kind == "Tensor":
            check_tensor_entry(path, entry)
        elif kind == "ChunkedTensor":
            for c in entry["chunks"]:
                check_tensor_entry(path, {k: v for k, v in c["tensor"].items() if k != "type"})
            assert entry["dtype"] in STRING_TO_DTYPE and isinstance(entry["replicated"], bool)
        elif kind == "ShardedTensor":
            for s in entry["shards"]:
                check_tensor_entry(path, {k: v for k, v in s["tensor"].items() if k != "type"})
        elif kind == "object":
            pass
        else:
            continue  # dropped, as torchsnapshot does
        manifest[path] = (kind, entry)
    return d, manifest


def check_tensor_entry(path, entry):
    keys = set(entry)
    assert TENSOR_KEYS <= keys <= TENSOR_KEYS | {"byte_range"}, f"{path}: TensorEntry(**entry) would fail: {sorted(keys)}"
    assert entry["dtype"] in STRING_TO_DTYPE, f"{path}: unknown dtype {entry['dtype']}"
    assert entry["serializer"] in ("buffer_protocol", "torch_save"), f"{path}: serializer {entry['serializer']}"
    assert isinstance(entry["replicated"], bool), f"{path}: replicated must be a bool"


def available_entries(manifest, rank=0):
    """manifest.get_available_entries."""
    by_logical = defaultdict(dict)
    for path, entry in manifest.items():
        by_logical["/".join(path.split("/")[1:])][int(path.split("/")[0])] = entry
    out = {}
    for logical, ranks in by_logical.items():
        entries = list(ranks.values())
        kind, first = entries[0]
        if first.get("replicated"):
            out.setdefault(logical, entries[0])
        elif kind == "ShardedTensor":
            out[logical] = ("ShardedTensor", {"shards": [s for _, e in entries for s in e["shards"]]})
        elif rank in ranks and ranks[rank][0] not in ("list", "dict", "OrderedDict"):
            out[logical] = ranks[rank]
    return out


def read_piece(root, e):
    dtype = STRING_TO_DTYPE[e["dtype"]]
    with open(os.path.join(root, e["location"]), "rb") as f:
        data = f.read()
    if e["serializer"] == "torch_save":
        import io
        return torch.load(io.BytesIO(data))
    if e.get("byte_range") is not None:
        a, b = e["byte_range"]
        assert b <= len(data), f"byte range {a}..{b} beyond {e['location']} ({len(data)} bytes)"
        data = data[a:b]
    return torch.reshape(torch.frombuffer(bytearray(data), dtype=dtype), e["shape"])


def read_tensor(root, kind, e):
    if kind == "Tensor":
        return read_piece(root, e)
    pieces = e["chunks"] if kind == "ChunkedTensor" else e["shards"]
    shape = e["shape"] if kind == "ChunkedTensor" else [
        max(p["offsets"][d] + p["sizes"][d] for p in pieces) for d in range(len(pieces[0]["sizes"]))]
    out = torch.empty(shape, dtype=STRING_TO_DTYPE[pieces[0]["tensor"]["dtype"]])
    for p in pieces:
        view = out
        for d, (o, s) in enumerate(zip(p["offsets"], p["sizes"])):
            view = view.narrow(d, o, s)
        view.copy_(read_piece(root, p["tensor"]))
    return out


def primitive_value(kind, e):
    if kind == "int":
        return int(e["serialized_value"])
    if kind == "float":
        return struct.unpack("d", base64.b64decode(e["serialized_value"]))[0]
    if kind == "bool":
        return e["serialized_value"] == "True"
    return e["serialized_value"]


def inflate(root, manifest, key, rank=0):
    """Rebuilds app-state `key` as torchsnapshot's restore would (flatten.inflate on rank `rank`)."""
    prefix = f"{rank}/{key}"
    containers = {p: v for p, v in manifest.items() if (p == prefix or p.startswith(prefix + "/"))
                  and v[0] in ("list", "dict", "OrderedDict")}
    assert prefix in containers, f'container entry "{prefix}" is absent'
    combined = {}
    for p, (kind, e) in containers.items():
        combined["/" + p[len(prefix):]] = [] if kind == "list" else (
            OrderedDict.fromkeys(e["keys"]) if kind == "OrderedDict" else dict.fromkeys(e["keys"]))
    for logical, (kind, e) in available_entries(manifest, rank).items():
        p = f"{rank}/{logical}"
        if p == prefix or p.startswith(prefix + "/"):
            value = primitive_value(kind, e) if kind in PRIMITIVES else read_tensor(root, kind, e)
            combined["/" + p[len(prefix):]] = value
    combined = OrderedDict(sorted(combined.items()))
    for path, val in combined.items():
        if path == "/":
            continue
        tokens = path.split("/")
        dir_path = "/".join(tokens[:-1]) or "/"
        assert dir_path in combined, f'Container entry is absent for "{dir_path}"'
        container = combined[dir_path]
        if isinstance(container, list):
            container.append(val)
        else:
            k = unquote(tokens[-1])
            assert k in container, f"Item {path} is not listed in the manifest"
            container[k] = val
    return combined["/"]
