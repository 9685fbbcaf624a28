"""Reads a QuantEBC-style state dict with torch.load and prints, per key, dtype and shape, and per
quantized table (a uint8 `<t>.weight` with `_qscale` / `_qbias`) its dequantized values (row-major, with
`bits` from argv[2]): scale * code + bias, codes unpacked low bits first as FBGEMM packs them."""
import json
import sys

import torch

sd = torch.load(sys.argv[1])
bits = int(sys.argv[2])
out = {"keys": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in sd.items()}, "dequantized": {}}
for k, v in sd.items():
    if v.dtype != torch.uint8:
        continue
    scale = sd[k + "_qscale"].float()
    bias = sd[k + "_qbias"].float()
    per_byte = 8 // bits
    codes = torch.stack([(v.int() >> (bits * j)) & ((1 << bits) - 1) for j in range(per_byte)], dim=2)
    codes = codes.reshape(v.shape[0], -1).float()
    values = (codes * scale + bias).flatten().tolist()
    out["dequantized"][k] = [None if v != v else v for v in values]  # NaN (inf scale x code 0): JSON null
print(json.dumps(out))
