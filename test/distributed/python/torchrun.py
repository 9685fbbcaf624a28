"""torchrun (torch.distributed.run) from Debian 12's python3-torch 1.13, made to start under Python 3.11.

Python 3.11 no longer yields an IntFlag's zero member when iterating the class, so torchrun's
Std.from_str("0") returns None and the launcher crashes before it starts any worker. This shim replaces
that one parser with an equivalent that builds the members directly, then runs torchrun unchanged:

    /usr/bin/python3 torchrun.py --no_python --nproc_per_node 2 node script.js
"""
import re
import sys

from torch.distributed.elastic.multiprocessing import api


def _from_str(cls, vm):
    if re.fullmatch(r"\d", vm):
        return cls(int(vm))
    if re.fullmatch(r"(\d:\d,)*\d:\d", vm):
        return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
    raise ValueError(f"{vm} does not match <digit> or <rank:digit,...>")


api.Std.from_str = classmethod(_from_str)

from torch.distributed.run import main  # noqa: E402  (after the patch on purpose)

if __name__ == "__main__":
    sys.exit(main())
