"""An in-memory machine for ``mlenv.host.detect``: absent keys behave like missing files or
failing commands, and every question asked is recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mlenv.host import NvmlSnapshot
from mlenv.host_system import Said


@dataclass
class FakeHost:
    """In-memory machine: absent keys behave like missing files or failing commands."""

    files: dict[str, str] = field(default_factory=dict)
    outputs: dict[tuple[str, ...], str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    confstrs: dict[str, str] = field(default_factory=dict)
    nvml_snapshot: NvmlSnapshot | None = None
    calls: list[tuple[object, ...]] = field(default_factory=list)
    failures: dict[tuple[str, ...], Said] = field(default_factory=dict)  # runs exiting non-zero
    links: dict[str, str] = field(default_factory=dict)  # a link -> the file its chain ends at

    def read_text(self, path: str) -> str | None:
        self.calls.append(("read", path))
        return self.files.get(path)

    def exists(self, path: str) -> bool:
        """A device node is a key of ``files`` (its text unused), as a file is."""
        self.calls.append(("exists", path))
        return path in self.files

    def run(self, argv: Sequence[str], timeout: float) -> str | None:
        self.calls.append(("run", tuple(argv), timeout))
        return self.outputs.get(tuple(argv))

    def run_status(self, argv: Sequence[str], timeout: float) -> Said | None:
        """``outputs`` exit 0; ``failures`` as given."""
        output = self.run(argv, timeout)
        return Said(0, output, "") if output is not None else self.failures.get(tuple(argv))

    def resolve_link(self, path: str) -> str | None:
        self.calls.append(("resolve_link", path))
        return self.links.get(path)

    def confstr(self, name: str) -> str | None:
        self.calls.append(("confstr", name))
        return self.confstrs.get(name)

    def nvml(self) -> NvmlSnapshot | None:
        self.calls.append(("nvml",))
        return self.nvml_snapshot


def with_glibc(
    files: dict[str, str] | None = None,
    outputs: dict[tuple[str, ...], str] | None = None,
    env: Mapping[str, str] | None = None,
) -> FakeHost:
    """A machine whose C library answers (glibc 2.39), as every Linux GPU node's does."""
    return FakeHost(files or {}, outputs or {}, env or {}, {"CS_GNU_LIBC_VERSION": "glibc 2.39"})
