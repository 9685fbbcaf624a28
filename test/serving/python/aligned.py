"""Python's side of the serving state-dict tests.

  aligned.py offsets <file>     where each record's data starts in a zip (local header + name + extra),
                                from Python's own zipfile; prints {record: offset}
  aligned.py load <file>        torch.load's a file; prints {key: [dtype, shape, sum as float64]}
  aligned.py save <file>        torch.save's a state dict of user [300][16] f32 and tweet [200][8] f16
                                (seeded); prints the same as load
"""
import json
import struct
import sys
import zipfile

import torch


def offsets(path):
    out = {}
    with open(path, "rb") as f, zipfile.ZipFile(path) as z:
        for info in z.infolist():
            f.seek(info.header_offset)
            header = f.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            out[info.filename] = info.header_offset + 30 + name_len + extra_len
            assert info.compress_type == zipfile.ZIP_STORED
    return out


def describe(sd):
    return {k: [str(v.dtype), list(v.shape), float(v.double().sum())] for k, v in sd.items()}


def main():
    what, path = sys.argv[1], sys.argv[2]
    if what == "offsets":
        print(json.dumps(offsets(path)))
    elif what == "load":
        print(json.dumps(describe(torch.load(path))))
    elif what == "save":
        g = torch.Generator().manual_seed(5)
        sd = {
            "embedding_bags.user.weight": torch.rand(300, 16, generator=g),
            "embedding_bags.tweet.weight": torch.rand(200, 8, generator=g).half(),
        }
        torch.save(sd, path)
        print(json.dumps(describe(sd)))


main()
