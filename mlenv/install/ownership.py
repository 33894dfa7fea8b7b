"""Who may write each path of the installed tree: one ledger for wheels, conda packages, the
tree rattler made, mlenv's own files and the conda-pack archive, so every new shape of a clash
meets the same rule (``PathLedger.claim``).

Paths are root-relative POSIX paths of the installed prefix, already free of ``..``, absolute
and empty parts (``mlenv.install.wheels`` refuses those first). The rules:

- A path has one kind: dir, file or symlink. A file or a symlink is a leaf: nothing is claimed
  below it (a member below a symlink would be written through it), and no file or symlink is
  claimed where a directory is.
- A file is claimed once. A second owner may claim it only with the same known content (sha256
  and size): NVIDIA's ``-cu12`` wheels all ship ``nvidia/__init__.py``. Never mlenv's own files.
- Two paths equal once folded (``fold``: Unicode compatibility form, case folding, invisible
  code points and trailing dots and spaces dropped) are one path, as on a case-insensitive or
  normalising file system and to ``importlib.metadata``; refused unless both come from conda
  (ncurses ships ``terminfo/E`` and ``terminfo/e``).
- Metadata directories (a folded name ending in ``.dist-info`` or ``.egg-info``, anywhere, file
  or directory) are what makes a distribution "installed": a wheel writes only into its own,
  and only from its own ``.dist-info`` (never through a ``.data`` scheme). The one exception is
  metadata nested inside the wheel's own package directory (``site-packages/<its name>/...``):
  vendoring leaves it there (setuptools' and bleach's ``_vendor``, ray's ``thirdparty_files``:
  7 of 967 sampled wheels), and only that package's own code can put such a directory on
  ``sys.path``.
- One metadata directory per distribution in a directory: a wheel does not add numpy's
  beside conda's numpy.
- Names mlenv writes are mlenv's: ``bin/conda-unpack`` and anything in ``conda-meta/``
  (rattler's records) or ``__clobbers__/`` (rattler's shelf for shared paths); for wheels also
  the venv layout and what Python reads as its configuration, in any layout: ``pyvenv.cfg``
  (also in ``bin/``: Python looks beside the executable) and the interpreter and activation
  names in ``bin/`` (``python``, ``python3.11``, ``activate.fish``, ``*._pth``...). Conda's
  python package ships those.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from packaging.utils import canonicalize_name

from mlenv.errors import DEFAULT_IGNORABLE, MlenvError, hidden_characters, terminal_text
from mlenv.install.safety import link_problem
from mlenv.oci.whiteout import WHY as WHITEOUT_WHY
from mlenv.oci.whiteout import whiteout_name

Kind = Literal["dir", "file", "symlink"]
# mlenv: files mlenv itself writes. tree: a tree already judged (the prefix rattler made, the
# staging tree being archived). conda: a conda package's members. wheel: a wheel's members.
Role = Literal["mlenv", "tree", "conda", "wheel"]

CLASH_HINT = "two locked packages install the same path: keep only one of them in the manifest"
_CONDA_OK = frozenset({"tree", "conda"})  # case twins are conda's business
_METADATA = (".dist-info", ".egg-info")
_RESERVED = re.compile(r"bin/conda-unpack|conda-meta(/.*)?|__clobbers__(/.*)?")
# A wheel's only: conda's python package ships the interpreter (and may ship a pyvenv.cfg).
_INTERPRETER = re.compile(
    r"(bin/)?pyvenv\.cfg"
    r"|bin/(pythonw?(\d+(\.\d+)?)?(-config)?|activate(\.\w+|_this\.py)?|deactivate"
    r"|[^/]*\._pth)"
)


class PathClashError(MlenvError):
    """Two owners, or an owner and a name mlenv keeps, want one installed path."""


@dataclass(frozen=True)
class Owner:
    """Who claims: ``name`` is shown in messages (a file name, or what mlenv writes)."""

    name: str
    role: Role
    hint: str  # what to do when this owner's own content is at fault
    metadata: str | None = None  # a wheel's own .dist-info directory, root-relative


@dataclass(frozen=True)
class _Held:
    owner: Owner
    kind: Kind
    content: tuple[str, int] | None
    member: str


@functools.lru_cache(maxsize=1 << 16)
def fold_name(name: str) -> str:
    """The form of one name that file systems and readers may take as the same name."""
    text = DEFAULT_IGNORABLE.sub("", unicodedata.normalize("NFKC", name))
    text = unicodedata.normalize("NFKC", text.casefold())
    return text.rstrip(". ") or text


def fold(path: str) -> str:
    """``fold_name`` of every component: the key two paths collide on."""
    return "/".join(fold_name(part) for part in path.split("/"))


def metadata_dir(path: str) -> str | None:
    """The first component of ``path`` that names distribution metadata once folded."""
    for part in path.split("/"):
        if fold_name(part).endswith(_METADATA):
            return part
    return None


class PathLedger:
    """Every claimed path with its owner and kind; ``claim`` is the one judge."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        self._folded: dict[str, str] = {}  # folded path -> the path first claimed under it
        # (folded directory, distribution) -> its metadata directory and owner
        self._dists: dict[tuple[str, str], tuple[str, Owner]] = {}

    def claim(
        self,
        owner: Owner,
        path: str,
        kind: Kind,
        *,
        member: str | None = None,
        content: tuple[str, int] | None = None,
    ) -> bool:
        """Record that ``owner`` writes ``path`` (``member`` of its archive) or refuse.

        ``content`` identifies a file's bytes (hash, size) or a symlink's target (target, 0).
        False when an identical file is already claimed by another owner: skip writing it.
        """
        member = path if member is None else member
        parts = path.split("/")
        folded = [fold_name(part) for part in parts]
        new: list[int] = []  # depths of ancestors claimed here first
        ancestor = path
        for depth in range(len(parts) - 1, 0, -1):  # a held path's ancestors are held dirs
            ancestor = ancestor.rpartition("/")[0]
            held = self._held.get(ancestor)
            if held is not None:
                if held.kind != "dir":
                    raise _error(owner, member, _below(held, ancestor), held)
                break
            new.insert(0, depth)
        held = self._held.get(path)
        if held is not None:
            if kind == held.kind == "dir":
                return True
            if _same_file(owner, kind, content, held):
                return False
            if held.kind == "dir":
                problem = f"is a {kind} at {path!r}, a directory for {held.owner.name}"
            else:
                problem = f"would overwrite {path!r} from {held.owner.name}"
            raise _error(owner, member, problem, held)
        if refusal := _forbidden(owner, path, member, "/".join(folded)):
            raise _error(owner, member, refusal, None)
        for depth in [*new, len(parts)]:
            self._check_fold(owner, member, "/".join(parts[:depth]), "/".join(folded[:depth]))
            self._check_distribution(owner, member, "/".join(parts[:depth]), folded[:depth])
        if refusal := _unsafe(owner, path, kind, content):
            raise _error(owner, member, refusal, None)
        for depth in [*new, len(parts)]:
            here = "/".join(parts[:depth])
            self._folded.setdefault("/".join(folded[:depth]), here)
            if (key := _distribution(folded[:depth])) is not None:
                self._dists.setdefault(key, (here, owner))
            held = _Held(owner, kind, content, member) if here == path else None
            self._held[here] = held or _Held(owner, "dir", None, member)
        return True

    def _check_fold(self, owner: Owner, member: str, path: str, folded: str) -> None:
        seen = self._folded.get(folded, path)
        if seen == path:
            return
        other = self._held[seen].owner
        if owner.role in _CONDA_OK and other.role in _CONDA_OK:
            return
        problem = f"differs only in case or Unicode form from {seen!r} from {other.name}"
        raise _error(owner, member, problem, self._held[seen])

    def _check_distribution(self, owner: Owner, member: str, path: str, folded: list[str]) -> None:
        """A wheel adds no second metadata directory for a distribution another one has."""
        key = _distribution(folded)
        seen = self._dists.get(key) if key is not None else None
        if key is None or seen is None or seen[0] == path:
            return
        if owner.role == "wheel" or seen[1].role == "wheel":
            problem = (
                f"would be a second metadata directory for {key[1]}, beside {seen[0]!r} from "
                f"{seen[1].name}"
            )
            raise _error(owner, member, problem, self._held[seen[0]])


def _distribution(folded: list[str]) -> tuple[str, str] | None:
    """(directory, distribution name) when the last name is a metadata directory."""
    name = folded[-1]
    if not name.endswith(_METADATA):
        return None
    stem = name.removesuffix(".dist-info").removesuffix(".egg-info")
    return "/".join(folded[:-1]), canonicalize_name(stem.split("-", 1)[0])


def _forbidden(owner: Owner, path: str, member: str, folded: str) -> str | None:
    """Why ``owner`` may never write ``path`` (from ``member``), whoever else writes what."""
    if owner.role in ("mlenv", "tree"):
        return None
    if _RESERVED.fullmatch(folded) or (
        owner.role == "wheel" and _INTERPRETER.fullmatch(folded) is not None
    ):
        return f"would be installed at {path!r}, a name mlenv keeps for its own files"
    if owner.role == "wheel" and (found := metadata_dir(path)) is not None:
        own = owner.metadata
        root = None if own is None else own.rsplit("/", 1)[-1]  # as the wheel's root holds it
        if own is not None and path.startswith(f"{own}/") and member.startswith(f"{root}/"):
            return None
        if _in_own_package(own, path, found):
            return None
        return (
            f"would be installed at {path!r}: {found!r} is distribution metadata, and a wheel "
            f"writes only its own ({own!r})"
        )
    return None


def _unsafe(owner: Owner, path: str, kind: Kind, content: tuple[str, int] | None) -> str | None:
    """Why a package's path (or a symlink's target) is unsafe whoever else writes what: a
    name that does not show as it is, one a command line takes as an option, one a container
    runtime takes as a whiteout, a link that leaves the prefix or whose target cannot be
    judged."""
    if owner.role in ("mlenv", "tree"):
        return None
    if hidden := hidden_characters(path):
        return (
            f"would be installed at a path holding the control or format character "
            f"{hidden[0]!r} ({terminal_text(path)!r}): a name no tool or terminal shows as it is"
        )
    if dashed := next((part for part in path.split("/") if part.startswith("-")), None):
        return (
            f"would be installed at {path!r}: {dashed!r} starts with '-', so `rm *` or any "
            "command given that directory's names by a glob takes it as an option"
        )
    if whiteout := whiteout_name(path):
        return f"would be installed at {path!r}: {whiteout!r} is {WHITEOUT_WHY}"
    if kind == "symlink":
        if content is None:
            return "is a symlink of unknown target"
        return link_problem(path, content[0])
    return None


def _in_own_package(own: str | None, path: str, found: str) -> bool:
    """site-packages/<its own package>/.../<name>.dist-info: what vendoring leaves (setuptools'
    _vendor, ray's thirdparty_files), seen only if the package puts that directory on sys.path."""
    if own is None:
        return False
    site, _, dist_info = own.rpartition("/")
    name = dist_info.removesuffix(".dist-info").rpartition("-")[0]
    below = path.removeprefix(f"{site}/").split("/")
    return (
        path.startswith(f"{site}/")
        and below.index(found) >= 1
        and canonicalize_name(below[0]) == canonicalize_name(name)
    )


def _same_file(owner: Owner, kind: Kind, content: tuple[str, int] | None, held: _Held) -> bool:
    """An identical file (or symlink: content is its target) of two packages is written once."""
    return (
        kind == held.kind != "dir"
        and content is not None
        and content == held.content
        and owner != held.owner
        and owner.role in ("wheel", "conda")
        and held.owner.role in ("wheel", "conda")
    )


def _below(held: _Held, ancestor: str) -> str:
    if held.kind == "symlink":
        return f"would be written through the symlink {ancestor!r} of {held.owner.name}"
    return f"needs a directory at {ancestor!r}, a file from {held.owner.name}"


def _error(owner: Owner, member: str, problem: str, held: _Held | None) -> PathClashError:
    """The hint blames the owner's own package, or says two packages clash."""
    other = owner if held is None else held.owner
    clash = other != owner and other.role in ("wheel", "conda")
    hint = CLASH_HINT if clash else owner.hint
    return PathClashError(f"member {member!r} {problem}", where=owner.name, hint=hint)
