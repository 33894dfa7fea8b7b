"""Attack 69: valid but unusual manifests through every stage (lock, export in every format,
fetch, fetch --platform, fetch --bundle, build --offline, verify of the lock, the image, the
layout, the conda-pack archive and the bundle, inspect, show --json, diff).

Shapes: only conda dependencies; only PyPI on linux-aarch64 alone; two platforms where one
package has a wheel for x86_64 only (behind its marker); every requirement behind a false
marker (both platforms empty); a dependency whose own requirement is behind a false marker; a
wheel with nothing but its dist-info; [cuda] without a CUDA package, and with archs;
outputs = ["conda-pack"] alone and ["oci"] alone; compression = "none"; layers = "auto" with
one package; layers = 125 with two; a 64-character name; a 255-byte prefix (the longest allowed).

Findings (before the fix):

- `export --format conda-lock` of a lock without conda channels (every PyPI-only lock) wrote
  `channels:` with no value, a YAML null; conda-lock's own reader failed on it ("'NoneType'
  object is not iterable"). A lock with no platform table (nothing pinned) wrote null
  `content_hash` and `platforms` too. Now `{}` / `[]`, and every target platform is listed.
- `[build] outputs = []` was a valid manifest (the schema agreed, and a schema test held it as
  good); `lock` passed and `build` ended in an internal error (exit 2, "a scratch tree has at
  least one reader"). Now the manifest says it must list at least one output.
- `[environment].name = "a..b"` (also `a._b`, `a___b`) passed the manifest and `lock`, and
  `build` failed after all its work: "'a..b:latest' is not a docker name:tag", located
  nowhere. The name is the image's name: the manifest now takes Docker's grammar.
- `lock` of a conda-only manifest said "wrote mlenv.lock: 0 package(s), 0 change(s)": the count
  and the list of changes were of PyPI pins only; conda pins are now both counted and listed
  (`+ python 3.11.2=h0_cpython (linux-64)`).
- `verify --bundle` of a conda-only bundle said "complete (0 artifact(s), ...)": it counted
  PyPI files only. `verify` of a lock without CUDA said "judged against the driver floor
  None".

Judged fine (no change): every shape above goes through every stage with exit 0 (k8s-affinity
without CUDA is a located refusal, exit 1); a two-platform build writes dist/<platform>/
image.tar and a multi-platform dist/oci; an empty platform builds an image of the skeleton
alone; diff across empty and full platforms lists additions per platform; a wheel of only its
dist-info installs and is inspected; layers = 125 with two packages makes two layers (the
skeleton and the one group the packages hash to); compression = "none" writes plain tars.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.conda_channel import write_channel
from tests.support.conda_project import channel_packages
from tests.support.wheels import build_wheel, write_simple_index

TWO = ("linux-64", "linux-aarch64")
HEAD = '[environment]\nname = "{name}"\npython = "3.11"\n'
HOST = 'interpreter = "/usr/bin/python3.11"\n'
CUDA = '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.15"\n'


@dataclass(frozen=True)
class Shape:
    name: str  # also the environment's name, unless ``env_name``
    environment: str  # lines of [environment] after name and python
    pypi: tuple[str, ...] = ()
    rest: str = ""  # [cuda], [conda], [build] tables (CHANNEL is the local conda channel)
    platforms: tuple[str, ...] = ("linux-64",)
    env_name: str = ""

    def manifest(self, index: str, channel: str) -> str:
        text = HEAD.format(name=self.env_name or self.name) + self.environment
        text += self.rest.replace("CHANNEL", channel)
        return text + f'[pypi]\nindex-url = "{index}"\ndependencies = {json.dumps(self.pypi)}\n'


SHAPES = [
    Shape("condaonly", 'prefix = "/opt/mlenv/condaonly"\n',
          rest='[conda]\nchannels = ["CHANNEL"]\ndependencies = ["python 3.11.*", "fastmath"]\n'),
    Shape("arm", HOST + 'platforms = ["linux-aarch64"]\n', ("tiny",), platforms=("linux-aarch64",)),
    Shape("onewheel", HOST + f"platforms = {json.dumps(TWO)}\n",
          ("xonly; platform_machine == 'x86_64'", "tiny"), platforms=TWO),
    Shape("falsemarker", HOST + f"platforms = {json.dumps(TWO)}\n",
          ("tiny; platform_machine == 'ppc64le'",), platforms=TWO),
    Shape("gated", HOST, ("gated",)),
    Shape("hollow", HOST, ("hollow",)),
    Shape("cudanone", HOST, ("tiny",), CUDA),
    Shape("cudaarchs", HOST, ("tiny",), CUDA + 'archs = ["sm_80", "sm_90"]\n'),
    Shape("packonly", HOST, ("tiny",), '[build]\noutputs = ["conda-pack"]\n'),
    Shape("ocionly", HOST, ("tiny",), '[build]\noutputs = ["oci"]\n'),
    Shape("nocomp", HOST, ("tiny",), '[build]\ncompression = "none"\n'),
    Shape("autoone", HOST, ("tiny",), '[build]\nlayers = "auto"\n'),
    Shape("layersmany", HOST, ("tiny", "hollow"), "[build]\nlayers = 125\n"),
    Shape("longname", HOST, ("tiny",), env_name="n" * 64),
    Shape("deep", HOST + 'prefix = "/' + "/".join(["p" * 50] * 5)[:254] + '"\n', ("tiny",)),
]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One index, one conda channel and one cache for every shape."""
    root = tmp_path_factory.mktemp("attack69")
    wheels = [
        build_wheel("tiny", "1.0", files={"tiny/__init__.py": b"X = 1\n"}),
        build_wheel("xonly", "1.0", tag="py3-none-manylinux_2_17_x86_64",
                    files={"xonly/__init__.py": b""}),
        build_wheel("hollow", "1.0"),  # nothing but its dist-info
        build_wheel("gated", "1.0", requires_dist=["tiny; python_version < '3'"],
                    files={"gated/__init__.py": b""}),
    ]  # fmt: skip
    index = write_simple_index(root / "index", wheels)
    channel = write_channel(root / "channel", channel_packages())
    return root, index, channel


def _env(root: Path) -> dict[str, str]:
    return {"MLENV_CACHE_DIR": str(root / "cache")}


def _stages(shape: Shape) -> list[list[str]]:
    """Every stage a user runs, in order, with the outputs this shape's build writes."""
    steps = [["lock", "--offline"], ["show", "--json"], ["inspect", "mlenv.lock"]]
    for fmt in ("requirements", "pylock", "conda-lock", "explicit", "cyclonedx"):
        steps.append(["export", "--format", fmt, "-o", f"export.{fmt}"])
        if fmt == "requirements" or (len(shape.platforms) > 1 and fmt != "pylock"):
            steps += [["export", "--format", fmt, "--platform", p] for p in shape.platforms]
    if "[cuda]" in shape.rest:
        steps.append(["export", "--format", "k8s-affinity"])
    steps += [["fetch"], *(["fetch", "--platform", p] for p in shape.platforms)]
    steps += [["fetch", "--bundle", "bundle"], ["verify", "--bundle", "bundle"]]
    steps += [["build", "--offline"], ["verify"]]
    dists = [Path("dist")] if len(shape.platforms) == 1 else [Path("dist", p) for p in TWO]
    name = shape.env_name or shape.name
    for dist in dists:
        if "conda-pack" not in shape.rest:
            steps += [["verify", str(dist / "image.tar")], ["inspect", str(dist / "image.tar")]]
        if '"oci"]' not in shape.rest:
            steps.append(
                ["verify", str(dist / f"{name}.tar{'' if 'none' in shape.rest else '.gz'}")]
            )
    if "conda-pack" not in shape.rest:
        steps += [["verify", "dist/oci"], ["inspect", "dist/oci"]]
    return [
        *steps,
        ["diff", "--json", "./mlenv.lock", "./mlenv.lock"],
    ]


Runs = dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def pipeline(world: tuple[Path, str, str]) -> Callable[[Shape], Runs]:
    """Runs a shape's every stage once (module-wide) and returns each stage's result."""
    root, index, channel = world
    done: dict[str, Runs] = {}

    def run(shape: Shape) -> Runs:
        if shape.name not in done:
            project = root / shape.name
            project.mkdir()
            (project / "mlenv.toml").write_text(shape.manifest(index, channel))
            done[shape.name] = {
                " ".join(args): run_mlenv(args, project, _env(root)) for args in _stages(shape)
            }
        return done[shape.name]

    return run


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_every_stage_of_every_shape_exits_zero(
    shape: Shape, pipeline: Callable[[Shape], Runs]
) -> None:
    runs = pipeline(shape)
    failed = {
        stage: done.stderr
        for stage, done in runs.items()
        if done.returncode != 0 or "internal error" in done.stderr or "Traceback" in done.stderr
    }
    assert not failed, failed
    assert len(runs) >= 15  # the stages ran, each one


def _project(world: tuple[Path, str, str], name: str) -> Path:
    return world[0] / name


def test_conda_lock_export_is_read_by_conda_lock(
    world: tuple[Path, str, str], pipeline: Callable[[Shape], Runs]
) -> None:
    """conda-lock itself reads the export of a PyPI-only lock (no channel), of one whose
    platforms are empty, and of a conda-only lock."""
    import conda_lock as _  # noqa: F401  (conda_lock.lockfile needs the package imported first)
    from conda_lock.lockfile import parse_conda_lock_file

    expected = {"arm": (["linux-aarch64"], []), "falsemarker": (list(TWO), []),
                "condaonly": (["linux-64"], ["fastmath", "python"])}  # fmt: skip
    for shape in SHAPES:
        if shape.name in expected:
            assert (
                pipeline(shape)["export --format conda-lock -o export.conda-lock"].returncode == 0
            )
            parsed = parse_conda_lock_file(_project(world, shape.name) / "export.conda-lock")
            platforms, names = expected[shape.name]
            assert parsed.metadata.platforms == platforms
            assert sorted(p.name for p in parsed.package) == names


def test_a_conda_only_lock_and_bundle_count_conda_and_no_cuda_names_no_floor(
    pipeline: Callable[[Shape], Runs],
) -> None:
    runs = pipeline(SHAPES[0])
    locked = runs["lock --offline"].stderr  # it said "0 package(s), 0 change(s)"
    assert "+ python 3.11.2=h0_cpython (linux-64)" in locked
    assert "wrote mlenv.lock: 2 package(s), 2 change(s)" in locked
    assert "complete (2 artifact(s)" in runs["verify --bundle bundle"].stdout
    verdict = runs["verify"].stdout
    assert "judged against no driver floor" in verdict and "None" not in verdict


def test_an_empty_platform_is_built_and_exported_as_empty(
    world: tuple[Path, str, str], pipeline: Callable[[Shape], Runs]
) -> None:
    runs = pipeline(next(s for s in SHAPES if s.name == "onewheel"))
    aarch64 = runs["export --format requirements --platform linux-aarch64"].stdout
    assert "tiny==1.0" in aarch64 and "xonly" not in aarch64
    runs = pipeline(next(s for s in SHAPES if s.name == "falsemarker"))
    assert "linux-aarch64" in runs["inspect dist/linux-aarch64/image.tar"].stdout
    lock = (_project(world, "falsemarker") / "mlenv.lock").read_text()
    assert "[platform" not in lock and 'platforms = ["linux-64", "linux-aarch64"]' in lock


@pytest.mark.parametrize(
    ("build", "message"),
    [
        ('name = "a..b"\n', "[environment].name: 'a..b' is not valid"),
        ('name = "a._b"\n', "[environment].name: 'a._b' is not valid"),
        ('name = "x"\n[build]\noutputs = []\n', "[build].outputs: must list at least one output"),
    ],
)
def test_a_manifest_the_build_cannot_honour_is_refused_at_lock(
    build: str, message: str, tmp_path: Path
) -> None:
    """Both locked before and failed at build: `a..b:latest` is no Docker name, and a build of
    no output was an internal error."""
    environment, _, rest = build.partition("\n")
    (tmp_path / "mlenv.toml").write_text(f'[environment]\n{environment}\npython = "3.11"\n{rest}')
    done = run_mlenv(["lock", "--offline"], tmp_path, _env(tmp_path))
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "mlenv.lock").exists()
