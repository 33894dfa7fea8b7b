"""Invariant 8: a lock is consistent or refused.
``mlenv.lockfile_consistency.consistency_problems`` runs in
``mlenv.lockfile_read.loads``, which every command reading a lock uses; each inconsistency names the
entry (key path, package and version)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.conda.records import CondaRecord
from mlenv.lockfile import Lock, LockedPlatform, LockError, StaleLockError
from mlenv.lockfile_fresh import check_fresh, inputs_hash
from mlenv.lockfile_read import loads
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as load_manifest
from tests.support.locks import SHA_A, SHA_B, package, sample, target_of

CONDA = CondaRecord(
    name="libgomp", version="14.2.0", build="h767d61c_2", build_number=2, subdir="linux-64",
    channel="https://conda.anaconda.org/conda-forge",
    url="https://conda.anaconda.org/conda-forge/linux-64/libgomp-14.2.0-h767d61c_2.conda",
    filename="libgomp-14.2.0-h767d61c_2.conda", sha256="c" * 64, md5="d" * 32, size=5,
)  # fmt: skip


TAGS = "cp311-cp311-manylinux_2_17_x86_64"


def with_entries(packages: list[object], conda: tuple[CondaRecord, ...] = ()) -> Lock:
    base = sample()
    platforms = [LockedPlatform("linux-64", tuple(packages), conda)]  # type: ignore[arg-type]
    target = dataclasses.replace(base.target, platforms=("linux-64",), requirements=())
    return dataclasses.replace(base, target=target).with_platforms(platforms)


def refusal(lock: Lock) -> list[str]:
    """The rendered lock read back: the problems loads reports, one line each."""
    with pytest.raises(LockError) as info:
        loads(render(lock), "p/mlenv.lock")
    return [f"{p.where}: {p.message}" for p in info.value.problems]


def test_a_consistent_lock_with_spellings_that_normalise_alike_loads() -> None:
    """Names compare after PEP 503 normalisation, versions after PEP 440 (local ones too),
    URLs after percent-decoding: the spellings real indexes use are accepted."""
    lock = with_entries(
        [
            package("Foo.Bar", "1.0", filename="foo_bar-1.0.0-py3-none-any.whl",
                    url="https://files.example/foo_bar-1.0.0-py3-none-any.whl"),
            package("torch", "2.6.0+cu124", filename=f"torch-2.6.0+cu124-{TAGS}.whl",
                    url=f"https://download.example/whl/torch-2.6.0%2Bcu124-{TAGS}.whl",
                    sha256=SHA_B),
        ],
        (CONDA,),
    )  # fmt: skip
    assert loads(render(lock)) == lock


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            package(
                "app",
                "1.0",
                filename="evil-1.0-py3-none-any.whl",
                url="https://x/evil-1.0-py3-none-any.whl",
            ),
            "name 'app' is not the name",
        ),
        (
            package(
                "app",
                "1.1",
                filename="app-1.0-py3-none-any.whl",
                url="https://x/app-1.0-py3-none-any.whl",
            ),
            "version '1.1' is not the version",
        ),
        (
            package(
                "torch",
                "2.6.0",
                filename="torch-2.6.0+cu124-py3-none-any.whl",
                url="https://x/torch-2.6.0+cu124-py3-none-any.whl",
            ),
            "version '2.6.0' is not",
        ),
        (
            package("app", "1.0", filename="app-1.0.tar.gz", url="https://x/app-1.0.tar.gz"),
            "is not a wheel's name",
        ),
        (
            package("app", "1.0", url="https://x/evil-1.0-py3-none-any.whl"),
            "url names the file 'evil-1.0-py3-none-any.whl'",
        ),
        (package("app", "1.0", url="https://x/app-1.0-py3-none-any.whl?f=/evil.whl"), None),
        (package("app", "not a version"), "is not a wheel's name"),
        (
            package(
                "app",
                "1.0",
                filename="app-1.0-cp311-cp311-manylinux_2_17_aarch64.whl",
                url="https://x/app-1.0-cp311-cp311-manylinux_2_17_aarch64.whl",
            ),
            "does not run on the target of its platform",
        ),
        (
            package(
                "app",
                "1.0",
                filename="app-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                url="https://x/app-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            ),
            "does not run on the target of its platform",
        ),
        (
            package(
                "app",
                "1.0",
                filename="app-1.0-cp311-cp311-manylinux_2_34_x86_64.whl",
                url="https://x/app-1.0-cp311-cp311-manylinux_2_34_x86_64.whl",
            ),
            "does not run on the target of its platform",
        ),
    ],
)
def test_a_package_that_is_not_its_file_is_refused(entry: object, says: str | None) -> None:
    """Protects against an entry that installs another package (or version) than it names."""
    lock = with_entries([entry])
    if says is None:  # the query is not part of the file name
        assert loads(render(lock)) == lock
        return
    problems = refusal(lock)
    assert len(problems) == 1
    assert problems[0].startswith("p/mlenv.lock: platform.linux-64.package[0] (")
    assert says in problems[0]


@pytest.mark.parametrize("other", ["foo-bar", "foo_bar", "Foo.Bar", "FOO--bar"])
def test_two_entries_of_one_name_on_a_platform_are_refused(other: str) -> None:
    """Two pins of one package (after PEP 503 normalisation): which one installs is undefined."""
    first = package(
        "foo-bar",
        "1.0",
        filename="foo_bar-1.0-py3-none-any.whl",
        url="https://x/foo_bar-1.0-py3-none-any.whl",
    )
    second = package(other, "2.0", sha256=SHA_B, filename="foo_bar-2.0-py3-none-any.whl",
                     url="https://x/foo_bar-2.0-py3-none-any.whl")  # fmt: skip
    problems = refusal(with_entries([first, second]))
    assert len(problems) == 1
    assert "names the package of platform.linux-64.package[" in problems[0]
    assert "2.0): names" in problems[0] or "1.0): names" in problems[0]


def test_one_sha256_for_two_files_is_refused() -> None:
    """One hash cannot be two files: the second entry would install the first one's bytes."""
    problems = refusal(with_entries([package("app", "1.0"), package("lib", "1.0")]))
    assert len(problems) == 1
    assert "package[1] (lib 1.0): has the sha256 of 'app-1.0-py3-none-any.whl'" in problems[0]


def test_a_platform_the_target_does_not_list_is_refused() -> None:
    """Entries for a platform outside [target].platforms are never judged or built."""
    lock = with_entries([package("app")])
    lock = dataclasses.replace(
        lock, platforms=(*lock.platforms, LockedPlatform("linux-aarch64", (package("app"),)))
    )
    assert refusal(lock) == [
        "p/mlenv.lock: platform.linux-aarch64: is not a platform of [target].platforms"
    ]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"filename": "libgomp-14.2.0-h767d61c_3.conda"}, "is not libgomp-14.2.0-h767d61c_2"),
        ({"version": "14.2.1"}, "is not libgomp-14.2.1-h767d61c_2"),
        ({"name": "evil"}, "is not evil-14.2.0-h767d61c_2"),
        ({"filename": "libgomp-14.2.0-h767d61c_2.zip"}, ".conda or .tar.bz2"),
        ({"subdir": "osx-64"}, "subdir 'osx-64' is neither"),
        ({"md5": "D" * 32}, "md5 is not 32"),
    ],
)
def test_a_conda_package_that_is_not_its_file_is_refused(change: dict[str, Any], says: str) -> None:
    """conda file names are name-version-build exactly; the subdir is the platform's or noarch."""
    entry = dataclasses.replace(CONDA, **change)
    if "filename" in change:
        entry = dataclasses.replace(entry, url=f"https://x/linux-64/{entry.filename}")
    problems = refusal(with_entries([], (entry,)))
    assert any(says in p and "platform.linux-64.conda[0]" in p for p in problems), problems


def test_every_inconsistency_is_reported_at_once() -> None:
    """Users fix a damaged lock in one pass."""
    mismatched = package("app", "1.1", filename="app-1.0-py3-none-any.whl")
    lock = with_entries([mismatched, package("APP", "1.0", sha256=SHA_B)])
    assert len(refusal(lock)) >= 3


# ---------------------------------------------------------------------------------------------
# Hypothesis: names and versions against file names

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,3}([-_.][A-Za-z0-9]{1,3}){0,2}", fullmatch=True)
VERSIONS = st.builds(
    lambda release, post, local: ".".join(map(str, release)) + post + local,
    st.lists(st.integers(0, 12), min_size=1, max_size=3),
    st.sampled_from(["", ".post1", "rc1", ".dev0"]),
    st.sampled_from(["", "+cu124", "+cpu"]),
)


@settings(max_examples=300, deadline=None)
@given(NAMES, VERSIONS, NAMES, VERSIONS)
def test_an_entry_loads_exactly_when_its_file_is_its_own(
    name: str, version: str, file_name: str, file_version: str
) -> None:
    """For any names and versions: the entry loads iff its wheel file names the same package
    (PEP 503) at the same version (PEP 440)."""
    wheel = f"{canonicalize_name(file_name).replace('-', '_')}-{file_version}-py3-none-any.whl"
    entry = package(name, version, filename=wheel, url=f"https://x/{wheel}", sha256=SHA_A)
    lock = with_entries([entry])
    same = canonicalize_name(name) == canonicalize_name(file_name) and Version(version) == Version(
        file_version
    )
    if same:
        assert loads(render(lock)) == lock
    else:
        assert refusal(lock)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("platforms", ("linux-64", "linux-aarch64")),
        ("python", "3.12"),
        ("glibc", "2.17"),
    ],
)
def test_a_target_edited_under_an_unchanged_inputs_hash_is_refused(key: str, value: Any) -> None:
    """The inputs hash covers the manifest, not the lock's own [target]: a platform, Python or
    glibc edited into the target (to build for a platform the manifest never named) is stale."""
    text = '[environment]\nname = "x"\npython = "3.11"\n[pypi]\ndependencies = ["app"]\n'
    manifest = load_manifest(text)  # "app" a requirement: a resolution pins what they reach
    lock = with_entries([package("app")])
    lock = dataclasses.replace(
        lock,
        inputs_hash=inputs_hash(manifest),
        target=target_of(manifest),
    )
    check_fresh(lock, manifest)
    edited = dataclasses.replace(lock, target=dataclasses.replace(lock.target, **{key: value}))
    with pytest.raises(StaleLockError, match=re.escape(f"[target].{key} is")) as info:
        check_fresh(edited, manifest, "p/mlenv.lock")
    assert info.value.where == f"p/mlenv.lock: target.{key}"
