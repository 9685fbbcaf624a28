"""Oracle for test/quantized: PyTorch's quantized embedding-bag ops (FBGEMM's row-wise layouts).

Usage: oracle.py <job.json>. The job names raw little-endian files:
  table (float32 [rows][dim]) and bits: writes `packed_out`, torch's embedding_bag_{4,2}bit_prepack of
    the table converted to the TBE inference layout ([scale fp16][bias fp16][codes]; torch puts the
    scale and bias last);
  stored (our uint8 rows), ids (int64), offsets (int64, B+1), weights (float32, optional), mode (0 sum,
    1 mean: the sum divided by the bag length here, since torch's non-FBGEMM fallback of these ops
    ignores mode and always sums): writes `pooled_out` (float32 [B][dim]) from embedding_bag_{4,2}bit_rowwise_offsets, or
    for 8 bits embedding_bag_byte_rowwise_offsets over our rows moved to its [codes][scale f32][bias f32].
Prints {} as JSON.
"""
import json
import sys

import numpy as np
import torch


def read(path, dtype):
    return np.fromfile(path, dtype=dtype)


def to_torch_layout(stored, dim, bits):
    """Our [scale][bias][codes] rows to torch's [codes][scale][bias] (nbit) rows."""
    return np.concatenate([stored[:, 4:], stored[:, :4]], axis=1)


def main():
    job = json.load(open(sys.argv[1]))
    rows, dim, bits = job["rows"], job["dim"], job["bits"]
    if "table" in job:
        table = torch.from_numpy(read(job["table"], np.float32).reshape(rows, dim).copy())
        prepack = {4: torch.ops.quantized.embedding_bag_4bit_prepack,
                   2: torch.ops.quantized.embedding_bag_2bit_prepack}[bits]
        packed = prepack(table).numpy()
        ours = np.concatenate([packed[:, -4:], packed[:, :-4]], axis=1)
        ours.astype(np.uint8).tofile(job["packed_out"])
    if "stored" in job:
        stored = read(job["stored"], np.uint8).reshape(rows, -1)
        ids = torch.from_numpy(read(job["ids"], np.int64).copy())
        offsets = torch.from_numpy(read(job["offsets"], np.int64).copy())
        weights = torch.from_numpy(read(job["weights"], np.float32).copy()) if job.get("weights") else None
        mode = job["mode"]
        if bits == 8:
            scale = stored[:, 0:2].copy().view(np.float16).astype(np.float32)
            bias = stored[:, 2:4].copy().view(np.float16).astype(np.float32)
            byte_rows = np.concatenate([stored[:, 4:], scale.view(np.uint8), bias.view(np.uint8)], axis=1)
            w = torch.from_numpy(np.ascontiguousarray(byte_rows))
            out = torch.ops.quantized.embedding_bag_byte_rowwise_offsets(
                w, ids, offsets, False, 0, False, weights, None, True)
        else:
            w = torch.from_numpy(np.ascontiguousarray(to_torch_layout(stored, dim, bits)))
            op = {4: torch.ops.quantized.embedding_bag_4bit_rowwise_offsets,
                  2: torch.ops.quantized.embedding_bag_2bit_rowwise_offsets}[bits]
            out = op(w, ids, offsets, False, 0, False, weights, None, True)
        if mode == 1:
            lengths = (offsets[1:] - offsets[:-1]).clamp(min=1).to(torch.float32)
            out = out / lengths.unsqueeze(1)
        out.numpy().astype(np.float32).tofile(job["pooled_out"])
    print("{}")


main()
