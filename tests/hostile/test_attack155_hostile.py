"""Attack 155: the CUDA policy read the METADATA of every untagged GPU release a page listed.

``CudaPolicy`` judged each file while the resolver ranked a project's page, and a file of a
package in the GPU table whose name and version carry no CUDA tag (PyPI torch, vllm, the
tensorrt metapackage) could only be judged from its Requires-Dist: locking ``vllm`` against a
page of 40 untagged 0.7.x releases asked for 41 METADATA files where 2 (the pin and its one
dependency) were needed, and a hostile page made mlenv send its server as many requests as it
listed files. Now such a file is judged when the resolver could try it next (in preference
order), so the reads follow the candidates tried; the pins, and the refusal naming the
package, are those of the old judgment, which ``EveryFileRead`` keeps as the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from mlenv.cuda.policy import CudaPolicy
from mlenv.cuda.rules import CudaTarget
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.errors import MlenvError
from mlenv.index import IndexFile, MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.lookahead import GUESSES
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.target import Target
from mlenv.variants import in_try_order
from tests.support.wheels import build_wheel

TAG = "cp312-cp312-manylinux_2_28_x86_64"
PURE = "py3-none-any"  # fits the target too, ranked after TAG
FLEET = CudaTarget(CudaVersion(12, 4), DriverVersion.parse("550.54.15"))
MARKERS = Target("linux-64", "3.12", "2.28").markers
# what an untagged release's Requires-Dist says: CUDA 12.4 (runs), 12.8 (too new), nothing
LINES = {
    "ok": ["nvidia-cublas-cu12==12.4.5.8"],
    "new": ["nvidia-cublas-cu12==12.8.4.1"],
    "none": [],
}
CUBLAS = [build_wheel("nvidia-cublas-cu12", v, tag=TAG) for v in ("12.4.5.8", "12.8.4.1")]


class EveryFileRead(CudaPolicy):
    """The policy as it was: every file of a page judged, its METADATA read, while the
    resolver ranks the page."""

    def __init__(self, index: MemoryIndex) -> None:
        super().__init__(FLEET, (), MARKERS, reads_metadata=True)
        self.index = index

    def deferred(self, file: IndexFile) -> bool:
        return False

    def reject(self, file: IndexFile) -> str | None:
        return self._now(file)[1]

    def rank(self, file: IndexFile) -> int:
        return self._now(file)[0]

    def _now(self, file: IndexFile) -> tuple[int, str | None]:
        if super().deferred(file):
            return self.judge(file, self.index.metadata(file))
        return super().rank(file), super().reject(file)


def manifest(dependencies: Sequence[str]) -> str:
    deps = ", ".join(f'"{d}"' for d in dependencies)
    return (
        '[environment]\nname = "v"\npython = "3.12"\n'
        '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.15"\n'
        f'[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = [{deps}]\n'
    )


def lock(
    wheels: Sequence[tuple[str, bytes]],
    dependencies: Sequence[str],
    *,
    old: bool = False,
    threads: bool = False,
) -> tuple[list[str] | tuple[str, str, str], list[str]]:
    """The pins (or the error's type, message and hint) and the files whose METADATA was read,
    each once, in order. Without ``threads`` the resolver reads inline (no lookahead), as for
    a local index; ``old`` judges with ``EveryFileRead``."""
    index = MemoryIndex("memory://a", dict(wheels))
    sources = Sources(index, ("memory://a",) if threads else (), ())
    policy = EveryFileRead(index) if old else None
    try:
        locked = lock_manifest(
            loads(manifest(dependencies)), sources, reporter=MemoryReporter(), policy=policy
        )
        outcome: list[str] | tuple[str, str, str] = sorted(
            f"{p.name}=={p.version}" for p in locked.platform("linux-64").packages
        )
    except MlenvError as exc:
        outcome = (type(exc).__name__, str(exc), exc.hint or "")
    return outcome, list(dict.fromkeys(f for kind, f in index.calls if kind == "metadata"))


def vllm(version: str, says: str, tag: str = TAG) -> tuple[str, bytes]:
    return build_wheel("vllm", version, requires_dist=LINES[says], tag=tag)


def releases(verdicts: Sequence[str]) -> list[tuple[str, bytes]]:
    """Untagged vllm 0.7.0 ... 0.7.(n-1), ``verdicts`` given newest first."""
    n = len(verdicts)
    return [vllm(f"0.7.{n - 1 - i}", says) for i, says in enumerate(verdicts)]


def filename(version: str, tag: str = TAG) -> str:
    return f"vllm-{version}-{tag}.whl"


def test_forty_untagged_releases_newest_fine_read_two_metadata_files() -> None:
    """The adversary's case: 41 reads before (the reference still makes them), 2 now."""
    wheels = [*releases(["ok"] * 40), *CUBLAS]
    pins = ["nvidia-cublas-cu12==12.4.5.8", "vllm==0.7.39"]
    outcome, read = lock(wheels, ["vllm"])
    assert outcome == pins
    assert read == [filename("0.7.39"), "nvidia_cublas_cu12-12.4.5.8-" + TAG + ".whl"]
    before, read_before = lock(wheels, ["vllm"], old=True)
    assert before == pins and len(read_before) == 41


def test_the_release_that_runs_deep_in_the_page_is_reached_by_reading_only_those_above() -> None:
    wheels = [*releases(["new"] * 33 + ["ok"] * 7), *CUBLAS]
    outcome, read = lock(wheels, ["vllm"])
    assert outcome == ["nvidia-cublas-cu12==12.4.5.8", "vllm==0.7.6"]
    vllm_read = [f for f in read if f.startswith("vllm-")]
    assert vllm_read == [filename(f"0.7.{39 - i}") for i in range(34)]  # tried, newest first
    assert lock(wheels, ["vllm"], old=True)[0] == outcome


def test_a_pin_reads_only_the_pinned_release_and_refuses_it_naming_vllm() -> None:
    """All 40 too new: ``vllm==0.7.3`` reads 0.7.3 alone (40 before) and the lock fails naming
    vllm with the same CUDA hint as before."""
    wheels = [*releases(["new"] * 40), *CUBLAS]
    outcome, read = lock(wheels, ["vllm==0.7.3"])
    assert read == [filename("0.7.3")]
    assert isinstance(outcome, tuple)
    kind, message, hint = outcome
    assert kind == "ResolutionError"
    assert "refused: 0.7.3: vllm 0.7.3 is built for CUDA 12.8, newer than the target" in message
    before, read_before = lock(wheels, ["vllm==0.7.3"], old=True)
    assert len(read_before) == 40
    assert isinstance(before, tuple) and before[0] == kind and before[2] == hint
    assert "vllm: no installable file" in before[1]
    assert "vllm/releases" in hint and "CUDA 12.4" in hint


def test_every_release_refused_gives_the_message_and_hint_it_gave() -> None:
    """Nothing runs: the resolver tries (and reads) each one, as many reads as candidates,
    and the error is the one the page-time judgment gave, word for word."""
    for says in ("new", "none"):
        wheels = [*releases([says] * 12), *CUBLAS]
        outcome, read = lock(wheels, ["vllm"])
        assert read == [filename(f"0.7.{11 - i}") for i in range(12)]
        assert isinstance(outcome, tuple) and "vllm: no installable file" in outcome[1]
        assert lock(wheels, ["vllm"], old=True)[0] == outcome


def test_a_tagged_build_for_the_target_is_tried_before_its_untagged_sibling_unread() -> None:
    """PyTorch's +cu124 beside PyPI's untagged torch of each release (unsafe-best-match): the
    +cu124 build ranks first, so no untagged release is read at all (40 before)."""
    wheels = [
        *(build_wheel("torch", f"2.{i}.0", requires_dist=LINES["new"], tag=TAG) for i in range(40)),
        *(build_wheel("torch", f"2.{i}.0+cu124", tag=TAG) for i in range(40)),
        *CUBLAS,
    ]
    outcome, read = lock(wheels, ["torch"])
    assert outcome == ["torch==2.39.0+cu124"]
    assert read == [f"torch-2.39.0+cu124-{TAG}.whl"]
    assert lock(wheels, ["torch"], old=True)[0] == outcome


def test_an_untagged_release_for_the_target_beats_its_other_cuda_sibling_once_read() -> None:
    """+cu121 (runs, rank 1) beside an untagged release whose METADATA says 12.4 (rank 0):
    the untagged one of the release tried is read to order the two, and wins, as before;
    the older releases are never read."""
    wheels = [
        *(build_wheel("torch", f"2.{i}.0", requires_dist=LINES["ok"], tag=TAG) for i in range(40)),
        *(build_wheel("torch", f"2.{i}.0+cu121", tag=TAG) for i in range(40)),
        *CUBLAS,
    ]
    outcome, read = lock(wheels, ["torch"])
    assert outcome == ["nvidia-cublas-cu12==12.4.5.8", "torch==2.39.0"]
    assert [f for f in read if f.startswith("torch-")] == [f"torch-2.39.0-{TAG}.whl"]
    assert lock(wheels, ["torch"], old=True)[0] == outcome


def test_a_refused_file_gives_way_to_another_file_of_its_release() -> None:
    """Two wheels of 0.7.1 fit the target: the better-tagged one's METADATA is too new, the
    pure one's runs. The page-time judgment locked the pure wheel; so does the deferred one,
    and a yanked stand-in is still refused (the release before it is locked)."""
    wheels = [vllm("0.7.1", "new"), vllm("0.7.1", "ok", PURE), vllm("0.7.0", "ok"), *CUBLAS]
    outcome, read = lock(wheels, ["vllm"])
    assert outcome == ["nvidia-cublas-cu12==12.4.5.8", "vllm==0.7.1"]
    assert read[:2] == [filename("0.7.1"), filename("0.7.1", PURE)]
    assert lock(wheels, ["vllm"], old=True)[0] == outcome
    index = MemoryIndex("memory://a", dict(wheels), yanked={filename("0.7.1", PURE): "bad"})
    locked = lock_manifest(loads(manifest(["vllm"])), Sources(index, (), ()),
                           reporter=MemoryReporter())  # fmt: skip
    assert {p.name: p.version for p in locked.platform("linux-64").packages}["vllm"] == "0.7.0"


def test_with_prefetch_threads_the_lookahead_adds_at_most_its_guesses() -> None:
    """A remote index resolves with threads and a lookahead, which reads the METADATA of at
    most GUESSES releases of a page ahead of the resolver: still not the page's length."""
    wheels = [*releases(["new"] * 30 + ["ok"] * 10), *CUBLAS]
    outcome, read = lock(wheels, ["vllm"], threads=True)
    assert outcome == ["nvidia-cublas-cu12==12.4.5.8", "vllm==0.7.9"]
    assert len([f for f in read if f.startswith("vllm-")]) <= 31 + GUESSES


def places(hint: str) -> str:
    """Where the CUDA hint sends the user for each refused package. Its opening words say
    which kind of refusal the resolver met (unreadable or too new), and its closing escape
    lists the unreadable packages: those follow the releases tried, no longer every release
    of the page (vllm==0.7.0's own "cannot read", not an untried 0.7.1's "too new")."""
    return hint.split(": ", 1)[1].split("; or pin versions")[0]


SHAPES = st.lists(
    st.tuples(
        st.sampled_from(["ok", "new", "none"]),  # the untagged release's Requires-Dist
        st.sampled_from(["", "cu124", "cu121", "cu128"]),  # a tagged build of it beside it
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, pinned=st.none() | st.integers(min_value=0, max_value=59))
def test_any_page_locks_as_before_reading_only_the_releases_it_reaches(
    shape: list[tuple[str, str]], pinned: int | None
) -> None:
    """Any mix of untagged and tagged releases, with or without an exact pin: the lock's
    pins (or its error and hint) are those of the page-time judgment, and the untagged
    files read are of releases the resolver reached: the pinned one or those above it, one
    each, never every release on the page."""
    n = len(shape)
    wheels = list(CUBLAS)
    for i, (says, tag) in enumerate(shape):  # newest first
        version = f"0.7.{n - 1 - i}"
        wheels.append(vllm(version, says))
        if tag:
            wheels.append(build_wheel("vllm", f"{version}+{tag}", tag=TAG))
    dependency = "vllm" if pinned is None else f"vllm==0.7.{min(pinned, n - 1)}"
    outcome, read = lock(wheels, [dependency])
    before, _ = lock(wheels, [dependency], old=True)
    untagged = [Version(f.split("-")[1]) for f in read if f.startswith("vllm-") and "+" not in f]
    assert len(untagged) == len(set(untagged))
    if isinstance(outcome, list):
        assert outcome == before
        pin = next(Version(p.split("==")[1]) for p in outcome if p.startswith("vllm=="))
        assert all(v >= Version(pin.public) for v in untagged)  # reached: the pin or above
        assert len(untagged) <= n - int(str(Version(pin.public)).split(".")[-1])
    else:
        assert isinstance(before, tuple)
        assert outcome[0] == before[0] and places(outcome[2]) == places(before[2])
        assert "vllm" in outcome[1] and "vllm" in places(outcome[2])
        if pinned is not None:
            assert len(untagged) <= 1  # only the pinned release is a candidate
    if pinned is None and isinstance(outcome, tuple):
        assert outcome == before  # every release tried: the very same refusal


def test_variants_are_ordered_by_rank_and_a_deferred_one_is_judged_only_at_the_front() -> None:
    """The ordering alone: c (floor 0, the newest version) is judged first and stays first;
    b's floor puts it before a, so it is judged before a is given, and goes after a (its rank
    is 2); a, ranked from the page, is never judged."""
    ranks = {"a": 1, "b": 0, "c": 0}
    pending = {"b", "c"}
    versions = {"a": Version("1.0+cu1"), "b": Version("1.0"), "c": Version("1.0+zz")}
    judged: list[str] = []

    def settle(item: str) -> str:
        judged.append(item)
        pending.discard(item)
        ranks[item] = {"b": 2, "c": 0}[item]
        return item

    order = in_try_order(
        ["a", "b", "c"], versions.__getitem__, ranks.__getitem__, pending.__contains__, settle
    )
    assert next(order) == "c" and judged == ["c"]  # c: floor 0 and the newest version
    assert next(order) == "a" and judged == ["c", "b"]
    assert list(order) == ["b"]
