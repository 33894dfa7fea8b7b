"""Attack 173: today's explanation and hint text built from user- and index-controlled input
(the local-build hint, held-back warnings, the dead-end account), MLENV_GPU_COMPUTE_CAP's
multi-line form, and the redactor's lazy compile.

Found: a held-back warning told the user to add a package to ``[cuda] unverified`` to lock a
newer release another requirement ruled out (the lock then stayed, and said the entry was
unneeded); a compute capability of 4,300+ digits passed the override's check and crashed host
detection (``int()`` refuses it: an internal error, not a HostError); the dead-end account
compared every release of a wide project again for each release asking it (10,000 releases
asking 100 projects: quadratic, hours), now kept per requirement and bounded by ``WORK``.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.dead_ends import WORK, Need, World, dead_ends
from mlenv.errors import MlenvError
from mlenv.host import detect
from mlenv.host_text import HostError, parse_compute_cap_override
from mlenv.index import MemoryIndex
from mlenv.redaction import redact
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.resolver.resolve import resolve
from tests.support.dead_worlds import askers, world
from tests.support.fake_host import with_glibc
from tests.support.gpu_locks import TAG, X86, cuda_128, lock, versions
from tests.support.wheels import build_wheel

_KERNEL = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Wed Jan 1 2025\n"


# --- MLENV_GPU_COMPUTE_CAP --------------------------------------------------------------------


@pytest.mark.parametrize("digits", [5000, 4301, 50_000])
def test_a_huge_compute_capability_is_refused_not_a_crash(digits: int) -> None:
    """Before: accepted, then ``jetson_only`` ran ``int()`` on it: ValueError (exit 2)."""
    host = with_glibc(
        files={"/proc/driver/nvidia/version": _KERNEL},
        env={"MLENV_GPU_COMPUTE_CAP": "1" * digits + ".0"},
    )
    with pytest.raises(HostError) as caught:
        detect(host)
    assert len(caught.value.render()) < 1000  # the value is cut, not echoed whole


@pytest.mark.parametrize(
    "value",
    [
        "\uff18.\uff10",
        "\uff19.0",
        "compute_cap\ncompute_cap",
        "compute_cap\n9.0\ncompute_cap\n8.0",
        "COMPUTE_CAP\n9.0",
        "-1.0",
        "10.0.1",
        "sm_90",
        "9.0\x00",
        "9.0\r8.0",
        "9.0\u20288.0",
        "9.0\x858.0",
        "9.0\x0b8.0",
        "9.0,\n8.0",
        "",
        "\n\n",
        "compute_cap",
        "1000.0",
        "9.1000",
    ],
)
def test_hostile_compute_capabilities_are_refused(value: str) -> None:
    with pytest.raises(HostError):
        parse_compute_cap_override(value)


@pytest.mark.parametrize(
    ("value", "caps"),
    [
        ("9.0\n\n\n", ("9.0",)),
        ("9.0\r\n8.0\r\n", ("9.0", "8.0")),
        (" compute_cap \n 9.0", ("9.0",)),
        ("compute_cap\n12.0\n12.0\n", ("12.0", "12.0")),
        ("8.0,9.0", ("8.0", "9.0")),
    ],
)
def test_nvidia_smi_output_as_printed_is_read(value: str, caps: tuple[str, ...]) -> None:
    assert parse_compute_cap_override(value) == caps


_CAP_CHARS = "0123456789.,\n\r \t_acmpotu\uff18\x00\u2028"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(_CAP_CHARS), max_size=60))
def test_any_value_gives_small_ascii_caps_or_a_host_error(value: str) -> None:
    try:
        caps = parse_compute_cap_override(value)
    except HostError as exc:
        assert len(exc.message) < 200
        return
    assert caps and all(re.fullmatch(r"[0-9]{1,3}\.[0-9]{1,3}", cap) for cap in caps)


# --- the dead-end account -----------------------------------------------------------------------


def _wide_world(releases: int, deps: int, looked: list[int]) -> World:
    """``a`` and ``b0..`` have ``releases`` each; every ``a`` asks every ``b``; every ``b``
    asks a ``z`` no index has. ``looked`` counts the versions handed to the search."""
    versions = [Version(f"1.{i}") for i in range(releases)]
    anything = SpecifierSet(">=0")
    wide = tuple(Need(canonicalize_name(f"b{j}"), anything, f"b{j}>=0") for j in range(deps))
    missing = (Need(canonicalize_name("z"), SpecifierSet(">=1"), "z>=1"),)

    def listed(name: NormalizedName) -> Sequence[Version]:
        found = [] if name == "z" else versions
        looked[0] += len(found)
        return found

    def needs(name: NormalizedName, _version: Version) -> Sequence[Need]:
        return wide if name == "a" else missing if name.startswith("b") else ()

    return World(listed, needs)


def test_a_wide_world_is_explained_without_quadratic_work() -> None:
    """Before: each of 2,000 ``a`` releases scanned b0's 2,000 releases again: 4,000,000
    versions looked at (10,000 x 100: 1e8 comparisons, hours)."""
    looked = [0]
    lines = dead_ends(
        ((canonicalize_name("a"), Version(f"1.{i}")) for i in range(2000)),
        _wide_world(2000, 10, looked),
    )
    assert lines[-1] == "  z>=1: no release matches (versions available: none)"
    assert looked[0] <= 10_000


@pytest.mark.parametrize(("releases", "deps"), [(10_000, 100), (3000, 300)])
def test_a_world_past_the_budget_gives_up_the_account(releases: int, deps: int) -> None:
    looked = [0]
    lines = dead_ends(
        ((canonicalize_name("a"), Version(f"1.{i}")) for i in range(releases)),
        _wide_world(releases, deps, looked),
    )
    assert looked[0] <= WORK + releases
    assert all(len(line) < 100_000 for line in lines)


def test_a_requirement_of_many_clauses_counts_each_clause() -> None:
    """``!=`` one release at a time: 1,000 clauses make each comparison 1,000 of them."""
    clauses = ",".join(f"!=1.{i}" for i in range(1000))
    releases = {
        "a": {f"1.{i}": [f"b{clauses}"] for i in range(300)},
        "b": {f"1.{i}": ["z>1"] for i in range(300)},
    }
    looked = [0]
    inner = world(releases)

    def listed(name: NormalizedName) -> Sequence[Version]:
        found = inner.versions(name)
        looked[0] += len(found)
        return found

    dead_ends(askers(*(f"a 1.{i}" for i in range(300))), World(listed, inner.needs))
    assert looked[0] * 1000 <= WORK + 300 * 1000


def _naive_takeable(releases: dict[str, dict[str, list[str]]], text: str) -> bool:
    requirement = Requirement(text)
    name = canonicalize_name(requirement.name)
    return any(
        all(
            canonicalize_name(Requirement(r).name) == name or _naive_takeable(releases, r)
            for r in listed
        )
        for version, listed in releases.get(name, {}).items()
        if requirement.specifier.contains(Version(version), True)
    )


_NAMES = ["p0", "p1", "p2", "p3", "p4"]


@st.composite
def _acyclic(draw: st.DrawFn) -> dict[str, dict[str, list[str]]]:
    """Releases where p_i asks only p_j with j > i (or itself, with an extra)."""
    releases: dict[str, dict[str, list[str]]] = {}
    for i, name in enumerate(_NAMES):
        versions = draw(st.sets(st.integers(1, 4), max_size=3))
        releases[name] = {}
        for v in versions:
            asks = draw(
                st.lists(
                    st.tuples(
                        st.sampled_from([*_NAMES[i + 1 :], "missing", f"{name}[x]"]),
                        st.sampled_from(["", ">=2", "<3", "==1", "!=2"]),
                    ),
                    max_size=3,
                )
            )
            releases[name][str(v)] = [n + s for n, s in asks]
    return releases


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_acyclic())
def test_without_cycles_the_account_agrees_with_a_plain_search(
    releases: dict[str, dict[str, list[str]]],
) -> None:
    """Kept answers change nothing where no cycle makes one an assumption: every asker is
    ruled out exactly when a plain recursive search says so."""
    pins = [f"p0 {v}" for v in releases["p0"]]
    if not pins:
        return
    lines = dead_ends(askers(*pins), world(releases))
    ruled_out = not any(_naive_takeable(releases, f"p0=={v}") for v in releases["p0"])
    assert bool(lines) == ruled_out


@pytest.mark.parametrize(
    "releases",
    [
        {"a": {"1": ["b"]}, "b": {"1": ["a"], "2": ["c>1"]}, "c": {"1": []}},
        {"a": {"1": ["b", "c"]}, "b": {"1": ["c"]}, "c": {"1": ["b", "z"]}},
        {"a": {"1": ["a", "b"]}, "b": {"1": ["b[x]", "a[y]", "z"]}},
        {"a": {"1": ["b"]}, "b": {"1": ["c"]}, "c": {"1": ["a", "z"]}},
    ],
)
def test_cycles_and_self_dependencies_end_with_a_bounded_account(
    releases: dict[str, dict[str, list[str]]],
) -> None:
    lines = dead_ends(askers("a 1"), world(releases))
    assert len(lines) <= 10
    assert all("need" in line or "no release matches" in line for line in lines)


# --- the local-build hint -----------------------------------------------------------------------

_SECRET = "s3cr3tT0ken"


def _local_build_error(pin: str, index: str) -> ResolutionError:
    name = Requirement(pin).name
    with pytest.raises(ResolutionError) as caught:
        resolve(
            [Requirement(pin)],
            X86,
            MemoryIndex("memory://a", dict([build_wheel(name, "2.7.0", tag=TAG)])),
            reporter=MemoryReporter(),
            policy=cuda_128(),
            indexes_searched=(index,),
        )
    return caught.value


_LABEL = st.from_regex(r"\A(cu1[0-9]{1,3}|rocm[0-9]\.[0-9]|cpu|cu12|[a-z0-9]{1,40})"
                       r"(\.[a-z0-9]{1,12}){0,4}\Z")  # fmt: skip
_NAME = st.from_regex(r"\A[A-Za-z][A-Za-z0-9._-]{0,20}[A-Za-z0-9]\Z")
_INDEX = st.sampled_from(
    [
        f"https://user:{_SECRET}@idx.example/simple",
        f"https://__token__:{_SECRET}@idx.example/simple?x=1",
        f"https://idx.example/simple?token={_SECRET}",
        f"https://{_SECRET}@idx.example/t/{_SECRET}/simple",
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_NAME, _LABEL, _INDEX, st.sampled_from(["==", "==="]))
def test_the_local_build_hint_hides_secrets_and_its_sources_line_is_toml_for_the_name(
    name: str, label: str, index: str, operator: str
) -> None:
    error = _local_build_error(f"{name}{operator}2.7.0+{label}", index)
    shown = error.render()
    assert _SECRET not in shown
    assert all(char.isprintable() or char == "\n" for char in shown)
    assert list(_sources_line(shown)) == [canonicalize_name(name)]


def _sources_line(shown: str) -> dict[str, str]:
    """The ``[pypi] sources`` table the hint offers, read as TOML; empty when it offers none."""
    line = re.search(r"\[pypi\] (sources = \{ .*? \})", shown)
    return {} if line is None else dict(tomllib.loads(line[1])["sources"])


@pytest.mark.parametrize(
    "pin",
    [
        "vllm==0.10.0+cu128",
        "flash-attn==2.7.0+cu128",
        "torch-scatter==2.1.2+pt27cu128",
        "torch-sparse==0.6.18+pt27cu128",
        "bitsandbytes==0.45.0+cu128",
    ],
)
def test_a_place_that_is_no_index_is_never_offered_as_a_source(pin: str) -> None:
    """Before: ``sources = { vllm = "https://github.com/vllm-project/vllm/releases" }``, PyG's
    ``"https://data.pyg.org/whl/torch-<torch"`` (cut at its placeholder), and a sources line
    of "<that index>" after bitsandbytes' advice to pin another release."""
    error = _local_build_error(pin, "https://idx.example/simple")
    assert error.hint is not None and "has no builds with a local label" in error.hint
    assert _sources_line(error.hint) == {}


@pytest.mark.parametrize(
    ("pin", "index"),
    [
        ("torch==2.7.0+cu128", "https://download.pytorch.org/whl/cu128"),
        ("xformers==0.0.30+cu128", "https://download.pytorch.org/whl/cu128"),
        ("paddlepaddle-gpu==2.6.0+cu128", "https://www.paddlepaddle.org.cn/packages/stable/cu128/"),
    ],
)
def test_a_makers_index_is_offered_as_it_is(pin: str, index: str) -> None:
    error = _local_build_error(pin, "https://idx.example/simple")
    assert error.hint is not None
    assert _sources_line(error.hint) == {canonicalize_name(Requirement(pin).name): index}


@pytest.mark.parametrize(
    "label", ["cu128.with.pypi.cudnn", "cu12", "rocm6.2", "cu" + "1" * 5000, "a" * 3000]
)
def test_odd_local_labels_give_a_hint_not_a_crash(label: str) -> None:
    error = _local_build_error(f"torch==2.7.0+{label}", "https://u:pw@idx.example/simple")
    assert error.hint is not None and "[pypi] sources = { torch = " in error.hint
    assert "pw@" not in error.render()


# --- held-back warnings -------------------------------------------------------------------------

_BOUNDED = [build_wheel(n, "1.0", requires_dist=["bitsandbytes<0.51"]) for n in ("aaa", "zzz")]


@pytest.mark.parametrize(
    "deps", ['"bitsandbytes", "torch", "aaa"', '"aaa", "bitsandbytes", "torch"', '"zzz", "torch"']
)
def test_a_newer_release_another_requirement_rules_out_is_not_offered(deps: str) -> None:
    """Before: "to lock 0.51.0 unchecked, add bitsandbytes to [cuda] unverified"; doing so
    locked 0.50.2 again and warned the entry was unneeded."""
    locked, warned = lock(deps, extra=_BOUNDED)
    assert versions(locked)["bitsandbytes"] == "0.50.2"
    assert "not the newer" not in warned
    _, again = lock(deps, extra=_BOUNDED, unverified='"bitsandbytes"')
    assert "remove it" in again  # the advice would have led here


def test_an_unrelated_bounded_package_keeps_the_warning() -> None:
    other = [build_wheel("aaa", "1.0", requires_dist=["bitsandbytes<0.60"])]
    _, warned = lock('"bitsandbytes", "torch", "aaa"', extra=other)
    assert "bitsandbytes 0.50.2 is locked (linux-64), not the newer 0.51.0" in warned


# --- locked_bytes under swaps -------------------------------------------------------------------


def _planted_cache(tmp_path: Path) -> tuple[ArtifactCache, Artifact, Path, Path]:
    """A cache holding the locked bytes in a private bucket, and a directory of other bytes
    under the same file name, to swap in."""
    good, bad = b"locked wheel bytes" * 100, b"other wheel bytes!" * 100
    digest = hashlib.sha256(good).hexdigest()
    cache = ArtifactCache(tmp_path / "cache")
    real = cache.path(digest)
    real.parent.mkdir(parents=True, mode=0o755)
    real.write_bytes(good)
    other = tmp_path / "other"
    other.mkdir()
    (other / digest).write_bytes(bad)
    return cache, Artifact("w", "https://x/w.whl", digest, len(good)), real.parent, other


def _read_locked(cache: ArtifactCache, artifact: Artifact) -> bytes | None:
    try:
        with cache.locked_bytes(artifact) as handle:
            return handle.read()
    except (OSError, MlenvError):
        return None


@pytest.mark.parametrize(
    "shape", ["bucket-symlink", "file-symlink", "another-users-file", "bucket-others-write"]
)
def test_locked_bytes_never_reads_a_swapped_in_file(tmp_path: Path, shape: str) -> None:
    """Other bytes under the locked name, put there by a symlink or by someone else (a file of
    another user, a bucket anyone may write), are never handed out as the locked bytes; this
    user's own private file is trusted as ``held_size`` trusts it."""
    cache, artifact, bucket, other = _planted_cache(tmp_path)
    if shape == "bucket-symlink":
        bucket.rename(tmp_path / "kept")
        bucket.symlink_to(other)
    elif shape == "file-symlink":
        target = bucket / artifact.sha256
        target.unlink()
        target.symlink_to(other / artifact.sha256)
    else:
        (bucket / artifact.sha256).write_bytes((other / artifact.sha256).read_bytes())
        if shape == "another-users-file":
            os.chown(bucket / artifact.sha256, 4242, 4242)
        else:
            bucket.chmod(0o777)
    assert _read_locked(cache, artifact) is None


def test_locked_bytes_racing_a_bucket_swap_reads_the_locked_bytes_or_nothing(
    tmp_path: Path,
) -> None:
    """A thread swaps the bucket between the real one and a symlink to other bytes of the same
    name while reads run: each read gives the locked bytes or fails, never the others."""
    cache, artifact, bucket, other = _planted_cache(tmp_path)
    good = (bucket / artifact.sha256).read_bytes()
    kept, link = tmp_path / "kept", tmp_path / "link"
    link.symlink_to(other)
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            bucket.rename(kept)
            link.rename(bucket)
            bucket.rename(link)
            kept.rename(bucket)

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        seen = {_read_locked(cache, artifact) for _ in range(300)}
    finally:
        stop.set()
        swapper.join()
    assert seen <= {good, None}


# --- the redactor's lazy compile ----------------------------------------------------------------

_RACE = """
import sys, threading
sys.setswitchinterval(1e-6)
from mlenv import redaction
texts = {texts!r}
barrier = threading.Barrier(len(texts))
shown = [None] * len(texts)
def run(i):
    barrier.wait()
    shown[i] = redaction.redact(texts[i])
threads = [threading.Thread(target=run, args=(i,)) for i in range(len(texts))]
[t.start() for t in threads]
[t.join() for t in threads]
print(repr(shown))
"""


def test_threads_racing_the_first_compile_redact_as_one_thread_does() -> None:
    """A fresh process whose threads all need the patterns at once (each compiled on first
    use): every secret is hidden exactly as a later, single-threaded call hides it."""
    texts = [
        f"https://u:{_SECRET}@h/x?token={_SECRET}&sig=1",
        f"Authorization: Bearer {_SECRET}",
        f"--password {_SECRET} next",
        f"https://h%40x:{_SECRET}%40@h/",
        f"https://conda.anaconda.org/t/{_SECRET}/chan",
        f"X-Api-Key: '{_SECRET}'",
        f"https://u:{_SECRET}/x@h/",
    ] * 3
    for _ in range(5):
        ran = subprocess.run(
            [sys.executable, "-c", _RACE.format(texts=texts)],
            capture_output=True,
            text=True,
            check=True,
        )
        shown = ast.literal_eval(ran.stdout)
        assert shown == [redact(text) for text in texts]
        assert not any(_SECRET in text for text in shown)


def test_many_accounts_in_one_world_share_the_budget() -> None:
    """A failure naming many packages asks one account each (``resolver.explain.explain``): the
    world they share keeps them within ``WORK`` together, not each."""
    looked = [0]
    shared = _wide_world(3000, 5, looked)
    for _ in range(50):
        dead_ends(((canonicalize_name("a"), Version(f"1.{i}")) for i in range(3000)), shared)
    assert looked[0] <= WORK + 3000
