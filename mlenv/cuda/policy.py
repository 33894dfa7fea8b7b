"""The CUDA rules as the resolver's judge of candidates, and the GPU packages whose CUDA it
could not read, for a manifest with a [cuda] table.

Apart from ``locking`` so that a lock without a CUDA target (a data stack) imports neither it
nor the rules it judges with: their import was about 2 % of such a lock's instructions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.version import Version

from mlenv.cuda import packages as cudapkg
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError
from mlenv.index import CoreMetadata, IndexFile
from mlenv.resolver.policy import CandidatePolicy


class CudaPolicy(CandidatePolicy):
    """The CUDA rules as the resolver's judge: builds the fleet cannot run, or that cannot be
    shown to run (a GPU package whose CUDA mlenv cannot read, unless ``unverified`` lists it),
    are never picked, and among variants of one release the build for the target CUDA is tried
    first. With ``reads_metadata``, an untagged release of a GPU package (PyPI torch, the
    tensorrt metapackage) is deferred: the resolver hands over its METADATA when it tries it."""

    def __init__(
        self,
        target: CudaTarget,
        unverified: Sequence[str] = (),
        markers: Mapping[str, str] | None = None,
        *,
        reads_metadata: bool = False,
    ) -> None:
        self.target = target
        self.unverified = unverified
        self.reads_metadata = reads_metadata
        self.markers = markers  # the platform's: a Requires-Dist line failing them is no need
        # None: deferred, only the file's METADATA can tell (``judge``)
        self._verdicts: dict[IndexFile, tuple[int, str | None] | None] = {}
        self._read: dict[IndexFile, tuple[int, str | None]] = {}
        self._refused: set[str] = set()
        self._unread: set[str] = set()
        self.unread_files: set[IndexFile] = set()  # refused as their CUDA cannot be read
        self._unrunnable: set[str] = set()
        self._archs: dict[str, set[str]] = {}  # a hint on GPU code -> the packages it is for

    @property
    def hint(self) -> str:  # type: ignore[override]
        """Where each refused package's family publishes builds for the target CUDA; NVIDIA
        wheels are pulled in by a framework, so then the frameworks' places come first."""
        cuda = self.target.cuda
        # refused for the GPU code their builds carry: their CUDA's index would not help
        names = sorted(self._refused.difference(*self._archs.values()))
        archs = "; ".join(self._archs)
        if archs and not names:
            return archs
        if any(cudapkg.family(name) == "nvidia" for name in names):
            judged = sorted({file.name for file in self._verdicts} - self._refused)
            names = [n for n in judged if cudapkg.family(n) not in (None, "nvidia")] + names
        places = dict.fromkeys(place for name in names if (place := cudapkg.hint(name, cuda)))
        where = "; ".join(places) or f"add an index with CUDA {cuda} builds"
        listed = ", ".join(f'"{name}"' for name in sorted(self._unread))
        escape = f", or accept them unchecked: [cuda] unverified = [{listed}]" if listed else ""
        refused = f"builds the fleet cannot run on CUDA {cuda} were refused"
        if self._unread and not self._unrunnable:
            # vllm or paddlepaddle-gpu from PyPI: nothing said they cannot run, only that
            # mlenv cannot tell which CUDA they need
            refused = f"builds whose CUDA mlenv cannot read were refused for the CUDA {cuda} fleet"
        return (
            f"{archs}{'; ' if archs else ''}{refused}: {where}; "
            f"or pin versions built for it, or change [cuda] version and driver-floor{escape}"
        )

    def source(self, name: str, version: Version) -> tuple[str, str | None] | None:
        try:
            need = extract(name, str(version))
        except CudaError:
            return None
        place = None if need is None or need.major_only else cudapkg.hint(name, need.cuda)
        return None if place is None else (place, cudapkg.place_index(place))

    def _verdict(self, file: IndexFile) -> tuple[int, str | None] | None:
        if file not in self._verdicts:
            self._verdicts[file] = self._judge(file, None)
        return self._verdicts[file]

    def _judge(
        self, file: IndexFile, requires: Sequence[str] | None
    ) -> tuple[int, str | None] | None:
        """The rank and refusal of ``file``; None when only its METADATA's Requires-Dist can
        tell and ``requires`` is not given (the page is being ranked)."""
        version = str(file.version)
        try:
            need = extract(file.name, version, file.filename, index=file.index_url)
            what = None if need else cudapkg.undetermined(file.name, version, file.index_url)
            untagged_gpu = need is None and file.version.local is None and cudapkg.known(file.name)
            if untagged_gpu and self.reads_metadata:
                # only its metadata can tell (the tensorrt metapackage, PyPI torch pinning
                # nvidia-*-cu12), so the refusal names the package itself: read when tried
                if requires is None:
                    return None
                need = extract(
                    file.name, version, file.filename, requires, file.index_url, self.markers
                )
        except CudaError as exc:
            return 3, exc.message
        if need is None:
            if what is None:
                return 2, None  # no CUDA build (a CPU variant): usable, after the CUDA ones
            verdict = cudapkg.finding(file.name, version, what, self.unverified, self.target.cuda)
            if verdict.severity == "warning":
                return 2, None
            self._unread.add(verdict.package)
            self.unread_files.add(file)
            return 3, verdict.message
        item = PackageNeed.of_wheel(file.name, version, need, file.filename)
        found = judge(self.target, [item], pairs=False)  # pairs: once all are pinned
        errors = [f for f in found if f.package and f.severity == "error"]
        if errors:
            self._unrunnable.add(file.name)
            for arch in (f for f in errors if f.code == "arch-not-built"):
                self._archs.setdefault(arch.hint, set()).add(file.name)
            return 3, errors[0].message
        return (0 if need.cuda == self.target.cuda else 1), None

    def reject(self, file: IndexFile) -> str | None:
        verdict = self._verdict(file)
        return None if verdict is None else self._refusal(file, verdict)

    def rank(self, file: IndexFile) -> int:
        verdict = self._verdict(file)
        return 0 if verdict is None else verdict[0]  # a deferred file may be the target's

    def deferred(self, file: IndexFile) -> bool:
        return self._verdict(file) is None

    def judge(self, file: IndexFile, metadata: CoreMetadata) -> tuple[int, str | None]:
        if file not in self._read:
            verdict = self._judge(file, metadata.requires_dist)
            self._read[file] = (0, None) if verdict is None else verdict  # never None here
        return self._read[file][0], self._refusal(file, self._read[file])

    def _refusal(self, file: IndexFile, verdict: tuple[int, str | None]) -> str | None:
        if verdict[1] is not None:
            self._refused.add(file.name)
        return verdict[1]


@dataclass(frozen=True)
class Unread:
    """A GPU package whose CUDA mlenv could not read (``cudapkg.undetermined``)."""

    name: str
    version: str
    what: str
