"""Hundred-and-sixth adversary pass: ``[pypi] constraints`` (pip's ``-c``, uv's
``constraint-dependencies``) against uv's ``--constraint`` on the same wheels-only index, and
the ``-c`` import of ``init --from``.

Findings held here: a constraint's exact pin did not select a yanked release (uv takes it, as
for a requirement's pin); a version conda provides was taken outside a constraint; a ``-c`` file
with extras was refused naming the unwritten manifest instead of the file and line (pip names
the line); ``-c URL`` was read as a path; a ``-c`` cycle was reported as a ``-r`` one.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, write_simple_index

URL = "https://attack106.invalid/simple"
VERSIONS = ("0.9", "1.0", "1.0+cu124", "1.1a1", "1.1", "2.0rc1", "2.0", "2.0+cu124", "3.0")
TRUE_ON_TARGET = ('platform_machine == "x86_64"', 'python_version >= "3.12"')
FALSE_ON_TARGET = ('platform_machine == "aarch64"', 'sys_platform == "win32"')

# name -> version -> (Requires-Dist, yanked)
World = Mapping[str, Mapping[str, tuple[tuple[str, ...], bool]]]


def _spec(rng: random.Random, versions: list[str]) -> str:
    op = rng.choice(("", ">=", "<", "==", "!=", "~=", ">", "<=", "==="))
    version = rng.choice(versions)
    if op == "~=" and len(Version(version).release) < 2:
        op = ">="
    if op in ("~=", "<", ">", "<=", ">=") and "+" in version:
        version = version.split("+")[0]  # PEP 440: a local version only with == and !=
    return f"{op}{version}" if op else ""


def _spelt(rng: random.Random, name: str) -> str:
    """``name`` as a user may spell it: case and ``-``/``_``/``.`` do not matter (PEP 503)."""
    spelt = rng.choice(("{}_x", "{}.x", "{}-x", "{}__x")).format(name)
    return rng.choice((spelt, spelt.upper(), spelt.title()))


def _world(seed: int) -> tuple[World, tuple[str, ...], tuple[str, ...]]:
    rng = random.Random(seed)
    names = ["a-x", "b-x", "c-x", "d-x"][: rng.randint(2, 4)]
    versions = {n: sorted(rng.sample(VERSIONS, rng.randint(1, 4)), key=Version) for n in names}
    world: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {}
    for i, name in enumerate(names):
        later = names[i + 1 :]
        world[name] = {
            version: (
                tuple(d + _spec(rng, versions[d]) for d in rng.sample(later, min(2, len(later)))),
                rng.random() < 0.1,
            )
            for version in versions[name]
        }
    roots = tuple(
        _spelt(rng, n.removesuffix("-x")) + _spec(rng, versions[n])
        for n in rng.sample(names, rng.randint(1, 2))
    )
    constraints = []
    bounded = rng.sample(names, rng.randint(1, len(names)))
    for name in bounded + rng.sample(bounded, rng.randint(0, 1)):  # two on one: intersected
        marker = ""
        if rng.random() < 0.3:
            marker = "; " + rng.choice((*TRUE_ON_TARGET, *FALSE_ON_TARGET))
        spec = _spec(rng, versions[name]) or f"<{rng.choice(versions[name]).split('+')[0]}"
        constraints.append(_spelt(rng, name.removesuffix("-x")) + spec + marker)
    return world, roots, tuple(dict.fromkeys(constraints))


def _files(world: World) -> list[tuple[str, bytes, bool]]:
    return [
        (*build_wheel(name, version, requires_dist=requires), yanked)
        for name, releases in world.items()
        for version, (requires, yanked) in releases.items()
    ]


def _manifest(roots: tuple[str, ...], constraints: tuple[str, ...], extra: str = "") -> str:
    def listed(items: tuple[str, ...]) -> str:
        return ", ".join(f"'{item}'" for item in items)  # TOML literal strings

    return (
        '[environment]\nname = "d"\npython = "3.12"\nplatforms = ["linux-64"]\nglibc = "2.28"\n'
        f'[pypi]\nindex-url = "{URL}"\ndependencies = [{listed(roots)}]\n'
        f"constraints = [{listed(constraints)}]\n{extra}"
    )


def _mlenv(
    world: World, roots: tuple[str, ...], constraints: tuple[str, ...]
) -> dict[NormalizedName, Version]:
    files = _files(world)
    index = MemoryIndex(URL, {f: d for f, d, _ in files}, yanked={f: "" for f, _, y in files if y})
    lock = lock_manifest(
        loads(_manifest(roots, constraints)), Sources(index, (URL,), ()), reporter=MemoryReporter()
    )
    return {canonicalize_name(pkg.name): Version(pkg.version) for _, pkg in lock.packages()}


def _uv(
    world: World, roots: tuple[str, ...], constraints: tuple[str, ...], work: Path
) -> dict[str, str] | None:
    files = _files(world)
    url = write_simple_index(
        work / "index", [(f, d) for f, d, _ in files], yanked={f: "" for f, _, y in files if y}
    )
    (work / "r.in").write_text("\n".join(roots) + "\n")
    (work / "c.txt").write_text("\n".join(constraints) + "\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", str(work / "r.in"), "--constraint", str(work / "c.txt"),
         "-o", str(work / "r.txt"), "--no-cache", "--quiet", "--no-header", "--python-version",
         "3.12", "--python-platform", "x86_64-manylinux_2_28", "--only-binary", ":all:",
         "--default-index", url],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    return pins_of((work / "r.txt").read_text()) if done.returncode == 0 else None


ENVIRONMENT = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_machine": "x86_64",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "extra": "",
}


def _unmet(
    world: World,
    roots: tuple[str, ...],
    constraints: tuple[str, ...],
    pins: Mapping[NormalizedName, Version],
) -> list[str]:
    """Every requirement and applicable constraint the pins break, and every pin nothing
    requires (a constraint never adds a project)."""
    edges = [(Requirement(r), "the manifest") for r in roots]
    for name, version in pins.items():
        edges += [(Requirement(r), f"{name} {version}") for r in world[name][str(version)][0]]
    problems = []
    for req, parent in edges:
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{req} (from {parent}): pinned {pinned}")
    for text in constraints:
        bound = Requirement(text)
        pinned = pins.get(canonicalize_name(bound.name))
        holds = bound.marker is None or Marker(str(bound.marker)).evaluate(ENVIRONMENT)
        if pinned is not None and holds and not bound.specifier.contains(pinned, True):
            problems.append(f"constraint {text}: pinned {pinned}")
    required = {canonicalize_name(req.name) for req, _ in edges}
    problems += [f"{name} is pinned but nothing requires it" for name in set(pins) - required]
    return problems


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_mlenv_and_uv_agree_under_constraints(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Protects constraints against a reference: on worlds with constraints on direct and
    transitive projects (names spelt differently, markers true and false on the target, ``===``,
    ``!=``, local versions, pre-releases, yanked files), mlenv fails exactly when uv does, and
    its pins meet every requirement and applicable constraint and add no constrained project."""
    world, roots, constraints = _world(seed)
    reference = _uv(world, roots, constraints, tmp_path_factory.mktemp("uv"))
    try:
        pins = _mlenv(world, roots, constraints)
    except ResolutionError as error:
        assert reference is None, f"uv: {roots} -c {constraints} -> {reference}; mlenv: {error}"
        assert error.hint
        return
    assert reference is not None, f"mlenv: {roots} -c {constraints} -> {pins}; uv failed"
    assert _unmet(world, roots, constraints, pins) == []


def test_a_constraint_pin_selects_a_yanked_release_as_uv_does(tmp_path: Path) -> None:
    """PEP 592 lets an exact pin take a yanked release; uv counts a constraint's ``==`` pin
    (``-c``: ``a==1.0``) as one. mlenv refused 1.0 as "yanked; only a manifest pin selects
    it", failing a lock uv makes."""
    world: World = {"a": {"1.0": ((), True), "2.0": ((), False)}}
    assert _uv(world, ("a",), ("a==1.0",), tmp_path) == {"a": "1.0"}
    assert _mlenv(world, ("a",), ("a==1.0",)) == {"a": Version("1.0")}
    # a constraint whose marker is false on the target opts into nothing
    with pytest.raises(ResolutionError):
        _mlenv(world, ("a!=2.0",), ('a==1.0; sys_platform == "win32"',))


def test_a_version_conda_provides_outside_a_constraint_is_refused_naming_it() -> None:
    """conda installs numpy 2.1; a PyPI package needs numpy and ``numpy<2`` bounds it. The
    lock took conda's 2.1 silently, so the environment broke the constraint it was locked
    under. It fails naming the constraint, and a constraint conda's version meets still locks."""
    files = dict([build_wheel("app", "1.0", requires_dist=["numpy"])])
    index = MemoryIndex(URL, files)
    target = Target("linux-64", "3.12", "2.28")
    provided = {canonicalize_name("numpy"): Version("2.1")}
    with pytest.raises(ResolutionError) as raised:
        resolve([Requirement("app")], target, index, reporter=MemoryReporter(), workers=0,
                provided=provided, constraints=[Requirement("NumPy<2")])  # fmt: skip
    assert "outside the constraint NumPy<2 ([pypi] constraints)" in raised.value.message
    assert "conda" in raised.value.message
    assert raised.value.hint is not None and "[pypi] constraints" in raised.value.hint
    done = resolve([Requirement("app")], target, index, reporter=MemoryReporter(), workers=0,
                   provided=provided, constraints=[Requirement("numpy>=2")])  # fmt: skip
    assert {str(p.name) for p in done.pins} == {"app"}


def test_a_constraint_marked_for_aarch64_bounds_only_that_platform() -> None:
    """A multi-platform manifest: ``a<2; platform_machine == "aarch64"`` bounds a on
    linux-aarch64 and leaves linux-64 at the newest."""
    files = dict([build_wheel("a", "1.0"), build_wheel("a", "2.0")])
    manifest = _manifest(("a",), ('a<2; platform_machine == "aarch64"',)).replace(
        'platforms = ["linux-64"]', 'platforms = ["linux-64", "linux-aarch64"]'
    )
    lock = lock_manifest(
        loads(manifest), Sources(MemoryIndex(URL, files), (URL,), ()), reporter=MemoryReporter()
    )
    assert {(platform, pkg.version) for platform, pkg in lock.packages()} == {
        ("linux-64", "2.0"),
        ("linux-aarch64", "1.0"),
    }


def _init(tmp_path: Path, requirements: str, files: Mapping[str, str]) -> str:
    (tmp_path / "requirements.txt").write_text(requirements)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = run_mlenv(["init", "--from", "requirements.txt"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()
    return result.stderr


def test_extras_in_a_constraints_file_are_refused_at_their_line(tmp_path: Path) -> None:
    """pip refuses ``numpy[gpu]<2`` in a ``-c`` file ("Constraints cannot have extras")
    naming the line; mlenv named only "[pypi].constraints[0]" of the manifest it did not
    write, leaving the user to find which included file said it."""
    stderr = _init(tmp_path, "numpy\n-c pins/c.txt\n", {"pins/c.txt": "scipy\nnumpy[gpu]<2\n"})
    assert "c.txt:2" in stderr and "numpy[gpu]<2" in stderr
    assert "extras" in stderr and "[pypi].constraints[" not in stderr


def test_a_constraints_url_is_refused_as_one(tmp_path: Path) -> None:
    """``-c https://...`` (pip downloads it) was read as the path ``https:/...``: "cannot read
    it: No such file or directory", hinting at -r paths. It is refused as a URL, as -r's is."""
    stderr = _init(tmp_path, "numpy\n-c https://example.com/c.txt\n", {})
    assert "-c https://example.com/c.txt" in stderr and "from disk only" in stderr
    assert "No such file" not in stderr


def test_a_constraints_cycle_names_the_option_that_closes_it(tmp_path: Path) -> None:
    """``c.txt`` constraining itself (``-c c.txt``) was reported as "includes itself through
    -r" with the hint "remove the circular -r line": there is no -r line."""
    stderr = _init(tmp_path, "numpy\n-c c.txt\n", {"c.txt": "numpy<2\n-c c.txt\n"})
    assert "c.txt:2" in stderr and "includes itself through -c" in stderr
    assert "-r" not in stderr


def test_uv_constraint_dependencies_are_refused_at_their_entry(tmp_path: Path) -> None:
    """``[tool.uv] constraint-dependencies = ["numpy[gpu]<2", "ok<1", "bad!!"]`` was imported
    unchecked and refused as ``[pypi].constraints[0]`` of the manifest init did not write,
    stopping at the first; each entry is named in pyproject.toml, as [project] entries are."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        '[tool.uv]\nconstraint-dependencies = ["numpy[gpu]<2", "ok<1", "bad!!"]\n'
    )
    result = run_mlenv(["init", "--from", "pyproject.toml"], tmp_path)
    assert result.returncode == 1 and not (tmp_path / "mlenv.toml").exists()
    assert "[tool.uv] constraint-dependencies[0]: 'numpy[gpu]<2'" in result.stderr
    assert "[tool.uv] constraint-dependencies[2]: 'bad!!'" in result.stderr
    assert "constraint-dependencies[1]" not in result.stderr
    assert "not written" not in result.stderr


def test_a_requirements_file_included_by_a_constraints_file_constrains(tmp_path: Path) -> None:
    """``-c c.txt`` whose c.txt says ``-r more.txt``: pip installs more.txt's ``s<2`` as a
    requirement, uv reads it as a constraint. mlenv follows uv (README: where pip and uv
    differ), so s is bounded and never added; uv is run to hold that reading."""
    url = write_simple_index(tmp_path / "index", [build_wheel("a", "1.0"), build_wheel("s", "1.0")])
    (tmp_path / "r.in").write_text("a\n")
    (tmp_path / "c.txt").write_text("-r more.txt\n")
    (tmp_path / "more.txt").write_text("s<2\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", "r.in", "-c", "c.txt", "--no-cache", "--quiet",
         "--no-header", "--python-version", "3.12", "--default-index", url],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert pins_of(done.stdout) == {"a": "1.0"}
    (tmp_path / "requirements.txt").write_text("a\n-c c.txt\n")
    result = run_mlenv(["init", "--from", "requirements.txt"], tmp_path)
    assert result.returncode == 0, result.stderr
    pypi = loads((tmp_path / "mlenv.toml").read_text()).pypi
    assert (pypi.dependencies, pypi.constraints) == (("a",), ("s<2",))


def test_an_environment_yml_pip_constraints_file_is_imported(tmp_path: Path) -> None:
    """environment.yml's ``pip:`` list is read as a requirements file, so ``-c sub/c.txt`` was
    read, and ``--pre`` too, but the environment importer rebuilt its result field by field
    and dropped both: ``init --from`` wrote a manifest without ``numpy<2`` and locked numpy 2,
    saying nothing."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("numpy<2\n")
    (tmp_path / "environment.yml").write_text(
        "name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.12\n  - pip\n"
        "  - pip:\n    - numpy\n    - -c sub/c.txt\n    - --pre\n"
    )
    result = run_mlenv(["init", "--from", "environment.yml"], tmp_path)
    assert result.returncode == 0, result.stderr
    pypi = loads((tmp_path / "mlenv.toml").read_text()).pypi
    assert (pypi.dependencies, pypi.constraints, pypi.prerelease) == (
        ("numpy",),
        ("numpy<2",),
        "allow",
    )


def test_a_locked_pin_outside_a_new_constraint_moves_inside_it(tmp_path: Path) -> None:
    """The lock's pins are preferences: c 2.0, locked before ``c<2`` was added, must not
    survive the re-lock (plain ``lock``, no ``--upgrade``), and the lock records the bound."""
    url = write_simple_index(
        tmp_path / "index",
        [build_wheel("b", "1.0", requires_dist=["c"]), build_wheel("c", "1.0"),
         build_wheel("c", "2.0")],
    )  # fmt: skip
    manifest = tmp_path / "mlenv.toml"
    text = f'[environment]\nname = "p"\npython = "3.12"\n[pypi]\nindex-url = "{url}"\n'
    manifest.write_text(text + 'dependencies = ["b"]\n')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], tmp_path, env).returncode == 0
    assert 'name = "c"\nversion = "2.0"' in (tmp_path / "mlenv.lock").read_text()
    manifest.write_text(text + 'dependencies = ["b"]\nconstraints = ["C < 2"]\n')
    assert run_mlenv(["lock", "--check"], tmp_path, env).returncode == 1
    result = run_mlenv(["lock"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    lock = (tmp_path / "mlenv.lock").read_text()
    assert 'name = "c"\nversion = "1.0"' in lock and 'constraints = ["C < 2"]' in lock
    assert run_mlenv(["lock", "--check"], tmp_path, env).returncode == 0
    # the bound removed from the lock by hand: verify and lock --check name it, not pass it
    (tmp_path / "mlenv.lock").write_text(lock.replace('constraints = ["C < 2"]\n', ""))
    check = run_mlenv(["lock", "--check"], tmp_path, env)
    assert check.returncode == 1 and "target.constraints" in check.stderr
    verify = run_mlenv(["verify"], tmp_path, env)
    assert (
        verify.returncode == 1 and "[target].constraints is none" in verify.stdout + verify.stderr
    )
