"""Attack 81: the uv 0.12 pre-release rule (commit 38d09da) as an adversary and a uv user see it.

Differential against uv 0.13.9 (``uv pip compile`` on a file:// index of the same wheels), on
shapes the random worlds of attack 74 do not reach: dev releases, post-releases of
pre-releases, local versions on pre-releases (torch's ``2.0rc1+cu130``), yanked pre-releases,
a final release only for another Python or tag, a pre-release through an extra or a marker,
``!=``, ``~=`` and ``==2.0.*`` over pre-releases, PEP 440's exclusive ``<2.0`` (leaves out
2.0rc1 unless the spec names a pre-release) and ``>1.0`` (leaves out 1.0.post1), and
backtracking into a pre-release. 48 shapes were run by hand; mlenv and uv agreed on every one
(resolvability and pins); a sample of them is held below.

Findings (input: what mlenv did -> what it does now):
1. a failed resolution where a package has many pre-releases (200 nightly ``2.0.devN`` /
   ``2.0rcN`` of ``a``, each needing ``b<2``, against the manifest's ``b>=2``): the new rule
   tries each pre-release once the final is ruled out, and the error listed one
   ``b<2 (from a 2.0rcN <- the manifest)`` line per release (201 lines, 8 KB; 41 KB at 1000)
   -> one line naming how many versions of ``a`` ask it and their span
   (resolver.askers._asked). Fixed.
Judged fine: a lock made under the previous rule (``c>=0.5a1`` pinned ``c 2.0.0a1``) stays
fresh for ``lock --check`` and is kept by ``lock``; ``--upgrade-package c`` moves it to the
final 1.0.0. No message of mlenv/ still carries the old rule's "only a manifest requirement
that names a pre-release" text. Time: 200 pre-releases with backtracking lock in 0.07-0.3 s,
as before the change (0.05-0.07 s; the old rule failed the shapes that now resolve).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cli import run_mlenv
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

URL = "https://attack81.invalid/simple"


@dataclass(frozen=True)
class Rel:
    requires: tuple[str, ...] = ()
    yanked: bool = False
    requires_python: str | None = None
    tag: str = "py3-none-any"


OK = Rel()
World = Mapping[str, Mapping[str, Rel]]


def _files(world: World) -> Iterator[tuple[str, bytes, bool]]:
    for name, releases in world.items():
        for version, rel in releases.items():
            filename, data = build_wheel(
                name,
                version,
                requires_dist=rel.requires,
                requires_python=rel.requires_python,
                provides_extra=["x"] if any("extra ==" in r for r in rel.requires) else [],
                tag=rel.tag,
            )
            yield filename, data, rel.yanked


def _mlenv(world: World, roots: tuple[str, ...]) -> dict[str, str]:
    files = list(_files(world))
    index = MemoryIndex(URL, {f: d for f, d, _ in files}, yanked={f: "" for f, _, y in files if y})
    deps = ", ".join(f'"{r}"' for r in roots)
    manifest = (
        '[environment]\nname = "d"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{URL}"\ndependencies = [{deps}]\n'
    )
    lock = lock_manifest(loads(manifest), Sources(index, (URL,), ()), reporter=MemoryReporter())
    return {str(canonicalize_name(p.name)): str(Version(p.version)) for _, p in lock.packages()}


def _uv(world: World, roots: tuple[str, ...], work: Path) -> dict[str, str] | None:
    files = list(_files(world))
    url = write_simple_index(
        work / "index", [(f, d) for f, d, _ in files], yanked={f: "" for f, _, y in files if y}
    )
    (work / "r.in").write_text("\n".join(roots) + "\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", str(work / "r.in"), "-o", str(work / "r.txt"),
         "--no-cache", "--quiet", "--no-header", "--python-version", "3.11",
         "--python-platform", "x86_64-manylinux_2_28", "--only-binary", ":all:",
         "--default-index", url],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return None
    return {k: str(Version(v)) for k, v in pins_of((work / "r.txt").read_text()).items()}


SHAPES: dict[str, tuple[World, tuple[str, ...]]] = {
    "dev-release": ({"a": {"0.9": OK, "1.0.dev0": OK}}, ("a>0.9",)),
    "post-of-pre": ({"a": {"0.9": OK, "1.0a1.post1": OK}}, ("a>0.9",)),
    "gt-pre-excludes-its-post": ({"a": {"1.0a1": OK, "1.0a1.post1": OK}}, ("a>1.0a1",)),
    "local-pre-through-eq": ({"a": {"1.0": OK, "2.0rc1+cu130": OK}}, ("a==2.0rc1",)),
    "local-pre-under-lt": ({"a": {"2.0rc1+cu130": OK}}, ("a<2.0",)),
    "local-pre-ne": ({"a": {"2.0rc1+cu130": OK, "1.0": Rel(yanked=True)}}, ("a!=2.0rc1",)),
    "yanked-pre-in-range": ({"a": {"1.0": OK, "2.0rc1": Rel(yanked=True)}}, ("a>1.0",)),
    "yanked-pre-pinned": ({"a": {"1.0": OK, "2.0rc1": Rel(yanked=True)}}, ("a==2.0rc1",)),
    "final-for-other-tag": (
        {"a": {"1.0": Rel(tag="cp312-cp312-manylinux_2_17_x86_64"), "1.1rc1": OK}},
        ("a",),
    ),
    "final-for-other-python": (
        {"a": {"1.0": Rel(requires_python=">=3.12"), "1.1rc1": OK, "0.9": OK}},
        ("a",),
    ),
    "extra-needs-pre": (
        {"b": {"1.0": Rel(('a>=2.0b1; extra == "x"',))}, "a": {"1.0": OK, "2.0b1": OK}},
        ("b[x]",),
    ),
    "false-marker-pre": (
        {
            "b": {"1.0": Rel(('a>=2.0b1; python_version >= "3.12"', "a"))},
            "a": {"1.0": OK, "2.0b1": OK},
        },
        ("b",),
    ),
    "ne-pre-only": ({"a": {"2.0a1": OK, "2.0a2": OK}}, ("a!=2.0a2",)),
    "ne-wildcard": ({"a": {"2.0a1": OK, "1.0": Rel(yanked=True)}}, ("a!=2.0.*",)),
    "compatible-pre": ({"a": {"2.0": Rel(yanked=True), "2.1rc1": OK, "3.0a1": OK}}, ("a~=2.0",)),
    "wildcard-pre": ({"a": {"2.0rc1": OK, "2.0.1rc1": OK, "2.0": Rel(yanked=True)}}, ("a==2.0.*",)),
    "lt-excludes-dev": ({"a": {"2.0.dev1": OK}}, ("a<2.0",)),
    "lt-names-pre": ({"a": {"2.0rc1": OK, "2.0rc2": OK}}, ("a<2.0rc2",)),
    "le-takes-pre": ({"a": {"2.0rc1": OK}}, ("a<=2.0",)),
    "gt-excludes-post": ({"a": {"1.0": OK, "1.0.post1": OK}}, ("a>1.0",)),
    "backtrack-into-pre": (
        {"b": {"2.0": Rel(("a>=2.0rc1",)), "1.0": Rel(("a",))}, "a": {"1.0": OK, "2.0rc1": OK}},
        ("b", "a"),
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_mlenv_pins_what_uv_pins_on_pre_release_shapes(
    shape: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Protects the uv 0.12 pre-release rule at its PEP 440 corners: mlenv fails exactly where
    uv 0.13.9 does and otherwise pins the same versions (each shape has one best answer)."""
    world, roots = SHAPES[shape]
    reference = _uv(world, roots, tmp_path_factory.mktemp("uv"))
    try:
        pins: dict[str, str] | None = _mlenv(world, roots)
    except ResolutionError as error:
        assert error.hint
        pins = None
    assert pins == reference


def _nightlies(count: int) -> dict[str, Rel]:
    versions = [f"2.0.dev{i}" for i in range(count // 2)]
    versions += [f"2.0rc{i}" for i in range(count - count // 2)]
    return {v: Rel(("b<2",)) for v in versions} | {"1.0": Rel(("b<2",))}


def test_many_pre_releases_asking_the_same_thing_are_one_line_of_the_error() -> None:
    """Protects the failure message when the rule walks a nightly series: 200 pre-releases of
    a, each needing b<2 against the manifest's b>=2, are named once, with their count and
    span, not in 201 lines; and the manifest's side and the hint are still there."""
    world = {"a": _nightlies(200), "b": {"1.0": OK, "2.0": OK}}
    with pytest.raises(ResolutionError) as raised:
        _mlenv(world, ("a", "b>=2"))
    message = str(raised.value)
    assert "b>=2 (from the manifest)" in message
    assert "b<2 (from 201 versions of a from 1.0 to 2.0rc99 <- the manifest)" in message
    assert message.count("b<2") == 1, message
    assert raised.value.hint


def test_few_versions_asking_are_each_named() -> None:
    """The grouping leaves a short conflict as it was: each asking version on its own line."""
    world = {"a": _nightlies(2), "b": {"1.0": OK, "2.0": OK}}
    with pytest.raises(ResolutionError) as raised:
        _mlenv(world, ("a", "b>=2"))
    message = str(raised.value)
    for version in ("1.0", "2.0.dev0", "2.0rc0"):
        assert f"b<2 (from a {version} <- the manifest)" in message


def test_no_message_keeps_the_old_manifest_only_pre_release_rule() -> None:
    """The old rule's refusal text must not survive anywhere in mlenv/."""
    root = Path(__file__).resolve().parents[2] / "mlenv"
    stale = [
        str(p)
        for p in root.rglob("*.py")
        if "names a pre-release" in p.read_text() or "allows one" in p.read_text()
    ]
    assert stale == []


def _locked_while_only_the_prerelease_exists(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A project locking ``c>=0.5a1`` while its index holds only c 2.0.0a1: the lock the
    previous rule wrote for it once a final release exists too."""
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    index = tmp_path / "index"
    url = write_simple_index(index, [build_wheel("c", "2.0.0a1")])
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "f"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["c>=0.5a1"]\n'
    )
    assert run_mlenv(["lock"], project, env).returncode == 0
    return project, env, index


def test_a_lock_made_under_the_old_rule_stays_and_upgrades_to_the_final(tmp_path: Path) -> None:
    """Protects users' existing locks: ``c>=0.5a1`` pinned c 2.0.0a1 under the previous rule
    (checked by hand with ef22010's mlenv: the same bytes as below, where only 2.0.0a1 exists
    when locking). Once 1.0.0 appears, ``lock --check`` calls it fresh and ``lock`` keeps it;
    ``--upgrade-package c`` moves it to the final release, as uv's would."""
    project, env, index = _locked_while_only_the_prerelease_exists(tmp_path)
    old = (project / "mlenv.lock").read_bytes()
    assert b'version = "2.0.0a1"' in old
    write_simple_index(index, [build_wheel("c", "2.0.0a1"), build_wheel("c", "1.0.0")])
    for args in (["lock", "--check"], ["lock"]):
        done = run_mlenv(args, project, env)
        assert done.returncode == 0, done.stderr
        assert "up to date" in done.stderr
        assert (project / "mlenv.lock").read_bytes() == old
    done = run_mlenv(["lock", "--upgrade-package", "c"], project, env)
    assert done.returncode == 0, done.stderr
    assert "c 2.0.0a1 -> 1.0.0" in done.stderr
    assert b'version = "1.0.0"' in (project / "mlenv.lock").read_bytes()


def test_lock_upgrade_reports_the_move_and_survives_a_damaged_lock(tmp_path: Path) -> None:
    """``lock --upgrade`` never resolves from the lock it replaces, but reports what moved
    (``c 2.0.0a1 -> 1.0.0``, as ``--upgrade-package`` does, not ``+ c 1.0.0``); a lock it
    cannot read (what ``--upgrade`` is the way out of) is still replaced, every pin new."""
    project, env, index = _locked_while_only_the_prerelease_exists(tmp_path)
    write_simple_index(index, [build_wheel("c", "2.0.0a1"), build_wheel("c", "1.0.0")])
    done = run_mlenv(["lock", "--upgrade"], project, env)
    assert done.returncode == 0, done.stderr
    assert "c 2.0.0a1 -> 1.0.0" in done.stderr, done.stderr
    (project / "mlenv.lock").write_text("this is [not a lock\n")
    done = run_mlenv(["lock", "--upgrade"], project, env)
    assert done.returncode == 0, done.stderr
    assert "+ c 1.0.0" in done.stderr, done.stderr
    assert b'version = "1.0.0"' in (project / "mlenv.lock").read_bytes()
