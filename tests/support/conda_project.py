"""The packages of a small mixed conda channel for end-to-end builds: the host's CPython 3.11
as a conda python, a compiled-looking library, a pure package and a GPU package."""

from __future__ import annotations

from pathlib import Path

from tests.support.conda_channel import PLACEHOLDER, build_conda_package, write_channel

HOST_PYTHON = "/usr/bin/python3.11"


def channel_packages() -> list[tuple[str, bytes]]:
    """A python that is the host's CPython 3.11 seen through a venv-style pyvenv.cfg, a
    compiled-looking library, a pure package, and a GPU package that needs __cuda >= 12.4."""
    site = "lib/python3.11/site-packages"
    return [
        build_conda_package(
            "python", "3.11.2", "h0_cpython",
            symlinks={"bin/python": "python3.11", "bin/python3": "python3.11"},
            files={"bin/python3.11": Path(HOST_PYTHON).read_bytes(),
                   "pyvenv.cfg": b"home = /usr/bin\ninclude-system-site-packages = false\n"
                                 b"version = 3.11.2\n", f"{site}/README.txt": b"site\n"},
        ),
        build_conda_package(
            "fastmath", "2.1", "py311_0", depends=["python >=3.11,<3.12.0a0"],
            files={f"{site}/fastmath/__init__.py": b"def twice(x):\n    return 2 * x\n"},
            prefix_files={"share/fastmath/prefix.txt": f"{PLACEHOLDER}\n".encode()},
            fmt="conda",
        ),
        build_conda_package(
            "libgpu", "1.0", "cuda124_0", depends=["__cuda >=12.4"],
            files={"lib/libgpu.txt": b"gpu\n"},
        ),
    ]  # fmt: skip


def conda_project(root: Path, packages: list[tuple[str, bytes]], prefix: str) -> Path:
    """``root/project`` asking for python 3.11 and each of ``packages`` from the local channel
    ``root/channel`` holding them beside ``channel_packages()``'s python."""
    channel = write_channel(root / "channel", [channel_packages()[0], *packages])
    names = ", ".join(f'"{filename.split("-")[0]}"' for filename, _ in packages)
    project = root / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        f'[environment]\nname = "x"\npython = "3.11"\nprefix = "{prefix}"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.11.*", {names}]\n'
    )
    return project
