"""A small world for PEP 751 interop: a file:// index of wheels (several per release, one with
an extra, some only for other platforms or Pythons) and sdists with an in-tree build backend
that needs nothing from an index, so uv and pip can lock and build offline."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from pathlib import Path

from tests.support.peers import clean_env, tool
from tests.support.wheels import build_wheel, write_simple_index

# PEP 517's smallest backend: writes a pure wheel of the project named in its pyproject.toml.
_BACKEND = '''"""In-tree backend: a pure wheel with METADATA, WHEEL and RECORD."""
import base64, hashlib, os, re, zipfile


def _meta():
    text = open("pyproject.toml").read()
    name = re.search(r'^name = "(.+)"', text, re.M).group(1)
    return name.replace("-", "_"), re.search(r'^version = "(.+)"', text, re.M).group(1)


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def _dist_info(name, version):
    return {
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\n"
        f"Version: {version}\\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: t\\n"
        b"Root-Is-Purelib: true\\nTag: py3-none-any\\n",
    }


def prepare_metadata_for_build_wheel(directory, config_settings=None):
    name, version = _meta()
    for path, data in _dist_info(name, version).items():
        os.makedirs(os.path.join(directory, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(directory, path), "wb") as f:
            f.write(data)
    return f"{name}-{version}.dist-info"


def build_wheel(directory, config_settings=None, metadata_directory=None):
    name, version = _meta()
    members = _dist_info(name, version)
    members[f"{name}/__init__.py"] = b""
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()}"
        f",{len(d)}\\n" for p, d in members.items()
    ) + f"{name}-{version}.dist-info/RECORD,,\\n"
    members[f"{name}-{version}.dist-info/RECORD"] = record.encode()
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as archive:
        for path, data in members.items():
            archive.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), data)
    return filename
'''


def source_tree(name: str, version: str) -> dict[str, bytes]:
    """A buildable project: pyproject.toml with static metadata and the in-tree backend."""
    pyproject = (
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    return {"pyproject.toml": pyproject.encode(), "backend.py": _BACKEND.encode()}


def build_sdist(name: str, version: str) -> tuple[str, bytes]:
    """A deterministic ``name-version.tar.gz`` holding ``source_tree`` and PKG-INFO."""
    base = f"{name.replace('-', '_')}-{version}"
    members = {
        **source_tree(name, version),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in sorted(members.items()):
            info = tarfile.TarInfo(f"{base}/{path}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return f"{base}.tar.gz", gzip.compress(buffer.getvalue(), mtime=0)  # the same bytes each run


def write_tree(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        (directory / path).write_bytes(data)
    return directory


def interop_index(root: Path) -> str:
    """The index: app needs lib[fast] (fast -> speedy), multi (a wheel per platform),
    winonly on Windows, oldpy before Python 3.10; both has a wheel and an sdist, srconly only
    an sdist."""
    linux = "cp311-cp311-manylinux_2_17"
    files = [
        build_wheel(
            "app",
            "1.0",
            requires_dist=[
                "lib[fast]>=1",
                "multi",
                "winonly; sys_platform == 'win32'",
                "oldpy; python_version < '3.10'",
            ],
        ),
        build_wheel("lib", "1.0"),
        build_wheel(
            "lib", "1.2", requires_dist=["speedy; extra == 'fast'"], provides_extra=["fast"]
        ),
        build_wheel("speedy", "0.3"),
        build_wheel("multi", "2.0", tag=f"{linux}_x86_64"),
        build_wheel("multi", "2.0", tag=f"{linux}_aarch64"),
        build_wheel("multi", "2.0", tag="cp311-cp311-win_amd64"),
        build_wheel("winonly", "1.0"),
        build_wheel("oldpy", "1.0"),
        build_wheel("both", "1.0"),
        build_sdist("both", "1.0"),
        build_sdist("srconly", "1.0"),
    ]
    return write_simple_index(root, files)


def git_repo(directory: Path, name: str, version: str) -> tuple[Path, str]:
    """A git repository holding a buildable project: (its directory, its commit)."""
    write_tree(directory, source_tree(name, version))
    env = clean_env(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                    GIT_COMMITTER_EMAIL="t@t", GIT_AUTHOR_DATE="2000-01-01T00:00:00Z",
                    GIT_COMMITTER_DATE="2000-01-01T00:00:00Z")  # fmt: skip
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "v"]):
        subprocess.run([tool("git"), *args], cwd=directory, env=env, check=True)
    head = subprocess.run([tool("git"), "rev-parse", "HEAD"], cwd=directory, env=env,
                          check=True, capture_output=True, text=True)  # fmt: skip
    return directory, head.stdout.strip()
