"""Attack 115: today's changes on main, in shapes their own tests did not try."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.closure import outside
from mlenv.lockfile import LockedPlatform, LockTarget
from mlenv.oci.base import registry_base
from mlenv.oci.model import Descriptor
from mlenv.oci.read import BaseImage
from mlenv.oci.reference import RegistryError, mount_sources, parse_reference
from mlenv.oci.write import ImageSpec, image_config
from mlenv.tarball import LayerBlob
from tests.support.cli import run_in_process
from tests.support.locks import conda_record, locked, make_lock

pytestmark = pytest.mark.hostile

MARK = "SeCrEt"


def _password(pieces: list[str], separators: list[str]) -> str:
    """A password each of whose pieces carries MARK, joined by characters a URL's userinfo
    may hold ('/', '@', ':' or a percent-escape), so a fragment shown is a fragment caught."""
    return "".join(MARK + piece + sep for piece, sep in zip(pieces, separators, strict=True))


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.text("abcXYZ019", max_size=4), min_size=1, max_size=4),
    separators=st.data(),
    prefix=st.sampled_from(["", "oci://"]),
    host=st.sampled_from(["registry.example", "127.0.0.1:5000", "localhost", "ghcr.io"]),
    path=st.sampled_from(["team/env", "env:1.0", "team/env:tag"]),
)
def test_a_reference_with_a_password_never_shows_it(
    pieces: list[str], separators: st.DataObject, prefix: str, host: str, path: str
) -> None:
    seps = separators.draw(
        st.lists(
            st.sampled_from(["", "/", "@", ":", "%40", "%2F"]),
            min_size=len(pieces),
            max_size=len(pieces),
        )
    )
    ref = f"{prefix}user:{_password(pieces, seps)}@{host}/{path}"
    for call in (lambda: parse_reference(ref), lambda: mount_sources("h.example/x", [ref])):
        with pytest.raises(RegistryError) as caught:
            call()
        shown = f"{caught.value.render()}\n{caught.value.where}\n{caught.value.hint}"
        assert MARK not in shown, (ref, shown)


@pytest.mark.parametrize(
    "ref",
    [
        f"user:pa/{MARK}@registry.example/team/env",  # a '/' in the password
        f"user:p@{MARK}@registry.example/team/env",  # an '@' in the password
        f"user:{MARK}@sha256:abc",  # the host read as a digest's algorithm
    ],
)
def test_named_password_shapes_are_refused_unshown(ref: str) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_reference(ref)
    assert MARK not in caught.value.render() and MARK not in caught.value.where


def test_a_base_image_reference_with_a_password_is_refused_unshown() -> None:
    """[build] base-image reaches the same reader (``oci.base.registry_base``)."""
    with pytest.raises(RegistryError) as caught:
        registry_base(f"oci://user:pa/{MARK}@registry.example/team/env:1")
    assert MARK not in caught.value.render() and MARK not in caught.value.where


def test_a_reference_with_a_digest_still_reads() -> None:
    digest = "sha256:" + "a" * 64
    parsed = parse_reference(f"registry.example/team/env:1.0@{digest}")
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == (
        "registry.example",
        "team/env",
        "1.0",
        digest,
    )
    with pytest.raises(RegistryError, match="sha256"):
        parse_reference("registry.example/team/env@sha256:abc")


# --- closure.outside: a bound of [target] on a version conda installs for PyPI -------------


def _conda_platform(
    requirements: tuple[str, ...],
    constraints: tuple[str, ...] | None,
    record_version: str,
    *pins: tuple[str, str, tuple[str, ...]],
) -> tuple[LockTarget, LockedPlatform]:
    target = replace(
        make_lock([], cuda=None, floor=None).target,
        requirements=requirements,
        constraints=constraints,
    )
    entries = tuple(locked(name, version, dependencies=deps) for name, version, deps in pins)
    return target, LockedPlatform("linux-64", entries, (conda_record("numpy", record_version),))


@pytest.mark.parametrize("version", ["2.1.0", "2.0.0", "1.0.0"])
def test_a_conda_record_past_a_pypi_requirement_is_outside(version: str) -> None:
    """The resolver takes a PyPI requirement on a project conda installs from conda, and
    accepts only a version the requirement allows
    (``resolver.candidates._Candidates._load_candidates``): a record edited by hand to numpy 2.1
    under ``numpy>=1.26,<2`` would be installed unnoticed."""
    target, platform = _conda_platform(("numpy>=1.26,<2",), None, version)
    found = outside(target, platform)
    assert [where for where, *_ in found] == [f".conda[0] (numpy {version})"], found
    assert found[0][2] == "'numpy>=1.26,<2' of [target].requirements"


def test_a_conda_record_past_a_constraint_a_pypi_dependency_reaches_is_outside() -> None:
    target, platform = _conda_platform(
        ("pandas",), ("numpy<2",), "2.1.0", ("pandas", "2.2.0", ("numpy",))
    )
    assert [where for where, *_ in outside(target, platform)] == [".conda[0] (numpy 2.1.0)"]


def test_a_conda_record_no_pypi_entry_reaches_is_not_bound_by_a_constraint() -> None:
    """A constraint bounds only what the PyPI resolution asks for: conda's own numpy, which
    nothing on PyPI needs, may be 2.1 under ``numpy<2`` (no false alarm)."""
    target, platform = _conda_platform(("pandas",), ("numpy<2",), "2.1.0", ("pandas", "2.2", ()))
    assert outside(target, platform) == []
    target, platform = _conda_platform(("numpy<2",), None, "1.26.4")
    assert outside(target, platform) == []


# --- manifest: a local path no system call takes -----------------------------------------


def _manifest(line: str) -> str:
    return (
        '[environment]\nname = "s"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\n{line}\ndependencies = ["app"]\n'
    )


@pytest.mark.parametrize(
    "line",
    [
        f'find-links = ["/{"aaaa/" * 1000}"]',
        f'find-links = ["file:///{"aaaa/" * 1000}"]',
        f'find-links = ["{"aaaa/" * 1000}"]',
        f'extra-index-urls = ["file:///{"aaaa/" * 1000}"]',
        f'find-links = ["file:///{"%61" * 250}/{"aaaa/" * 900}"]',
    ],
    ids=["absolute", "file-url", "relative", "index-file-url", "escaped-name"],
)
def test_a_local_path_over_path_max_is_refused_by_key(tmp_path: Path, line: str) -> None:
    """Names of 4 bytes each, 5,000 bytes in all: every name fits a file system, the path fits
    no system call (PATH_MAX, 4096 bytes with its NUL), and the lock's first stat of it ended
    in 'internal error' (ENAMETOOLONG), where a name over 255 bytes is named by its key."""
    (tmp_path / "mlenv.toml").write_text(_manifest(line))
    code, out, err = run_in_process(["lock", "--offline"], tmp_path)
    key = line.split(" ", 1)[0]
    assert code == 1, (code, out, err)
    assert f"[pypi].{key}[0]" in err and "4096" in err, err
    assert not (tmp_path / "mlenv.lock").exists()


# --- image config on a base: each layer's history entry ------------------------------------


@pytest.mark.parametrize("extra", [1, 2, 5])
def test_each_environment_layer_keeps_its_entry_when_the_base_names_more(extra: int) -> None:
    """Readers pair the n-th history entry that is not ``empty_layer`` with the n-th layer. A
    base whose history names more entries than it has layers (a squashed image that kept its
    history, a hand-edited config) paired the environment's layer with one of the base's
    surplus entries, and mlenv's own entries with no layer (moby's ``docker history`` refuses
    the whole image: 'too many non-empty layers in History section')."""
    tar = "application/vnd.oci.image.layer.v1.tar"
    layers = tuple(Descriptor(tar, "sha256:" + c * 64, 1) for c in "abc")
    history = [{"created_by": f"RUN step {n}"} for n in range(len(layers) + extra)]
    config = {"architecture": "amd64", "os": "linux", "config": {}, "history": history}
    digests = tuple(d.digest for d in layers)
    base = BaseImage("sha256:" + "0" * 64, "amd64", config, layers, digests, None)  # type: ignore[arg-type]
    spec = ImageSpec("e", "linux-64", "/opt/e", 0, "ab" * 32)
    blob = LayerBlob("sha256:" + "d" * 64, "sha256:" + "d" * 64, 1, 1, tar, "none", None)
    written = image_config(spec, [(blob, "env")], base)["history"]
    named = [entry for entry in written if not entry.get("empty_layer")]
    assert len(named) == len(layers) + 1, written
    assert named[-1]["created_by"] == "mlenv build: env"
    assert [e["created_by"] for e in written[: len(history)]] == [
        e["created_by"] for e in history
    ]  # the base's entries all kept, in order
