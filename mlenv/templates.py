"""The starter manifest written by ``mlenv init``."""

from __future__ import annotations

import re

STARTER = """\
# mlenv.toml: one file describes the environment for the machines it will run on.
# Docs: README.md. Every key is checked; `mlenv show` prints what mlenv understood.

[environment]
name = "{name}"
python = "{python}"                # CPython minor version on the target
platforms = ["linux-64"]           # linux-64 and/or linux-aarch64
glibc = "2.28"                     # oldest glibc in the fleet (manylinux level)
prefix = "/opt/mlenv/{name}"       # where the environment lives at run time
# interpreter = "/usr/bin/python{python}"  # the base image's Python (when conda has none)

{cuda}
[pypi]
index-url = "https://pypi.org/simple"
extra-index-urls = []
find-links = []                    # directories or pages of wheels
index-strategy = "first-index"     # or "best-match" (pip's rule); see README
dependencies = [
    # "numpy>=1.26,<3",
]

[build]
outputs = ["oci", "conda-pack"]
compression = "gzip"               # gzip | zstd | none
# image-tar = false                # the OCI layout only, no dist/image.tar (no `build --load`)
"""


CUDA_COMMENTED = """\
# [cuda]
# version = "12.4"                 # target CUDA toolkit (major.minor)
# driver-floor = "550.54.14"       # oldest NVIDIA driver in the fleet
# archs = ["sm_80", "sm_90"]       # GPU architectures that must be supported
# unverified = ["xformers"]        # GPU packages whose CUDA mlenv cannot read, accepted unchecked
"""
CUDA = """\
[cuda]
version = "{version}"
driver-floor = "{floor}"
# archs = ["sm_80", "sm_90"]       # GPU architectures that must be supported
# unverified = ["xformers"]        # GPU packages whose CUDA mlenv cannot read, accepted unchecked
"""


def starter_manifest(name: str, python: str, cuda: tuple[str, str] | None = None) -> str:
    """The starter text; ``cuda`` (version, driver floor) fills in the [cuda] table."""
    block = CUDA_COMMENTED if cuda is None else CUDA.format(version=cuda[0], floor=cuda[1])
    text = STARTER.format(name=sanitize_name(name), python=python, cuda=block)
    # the comments of set keys in one column, whatever length the name and Python filled in
    return _SET_KEY_COMMENT.sub(lambda m: f"{m[1]:<{COMMENT_COLUMN - 1}} {m[2]}", text)


COMMENT_COLUMN = 35
_SET_KEY_COMMENT = re.compile(r"^([a-z][^#\n]*?) +(# [^\n]*)$", re.MULTILINE)


def sanitize_name(raw: str) -> str:
    """A directory's or project's name made into a valid environment name (lower case, safe
    characters, ``manifest_values.is_env_name``): a run of separators other than ``__`` or dashes
    becomes one dash, so ``a..b`` (refused by the build's last step) is ``a-b``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower())
    name = re.sub(
        r"[._-]{2,}",
        lambda m: m[0] if m[0] == "__" or ("." not in m[0] and "_" not in m[0]) else "-",
        name,
    )
    return name.strip("-._")[:64].rstrip("-._") or "env"
