"""A subprocess script swapping a store's file while mlenv runs: ``python -c SWAPPER SHA FILE
OTHER AFTER ARGS...`` runs ``mlenv ARGS`` with an audit hook that, once a file named SHA was
opened for reading AFTER times, replaces FILE with OTHER at the next open of anything (the
swap a writer of a shared cache or bundle races in between a check and a read)."""

from __future__ import annotations

SWAPPER = r"""
import os, sys

sha, cache_file, evil, after = sys.argv[1:5]
state = {"opened": 0, "done": False}
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def hook(event, args):
    if event != "open" or state["done"] or isinstance(args[0], int):
        return
    if state["opened"] < int(after):
        name = os.path.basename(os.fsdecode(args[0]))
        state["opened"] += name == sha and not (args[2] or 0) & WRITE
        return
    # The artifact was opened for reading `after` times: swap it at the next open of anything.
    state["done"] = True
    os.replace(evil, cache_file)


sys.addaudithook(hook)
from mlenv.cli.app import main

sys.exit(main(sys.argv[5:]))
"""
