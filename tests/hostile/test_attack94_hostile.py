"""Attack 94: the commits of attack 93 probed again.

- ``export -o ./-`` printed to standard output: click's Path (and pathlib) read ``./-`` as
  ``-``, so the file named '-' that the user spelled out was never written.
- ``init --from pixi.toml`` compared a package's own ``index`` with the [pypi-options] indexes
  as strings: ``HTTPS://h/simple`` there and ``https://h/simple`` here (one index to pixi and
  to mlenv's reader) were two, and the manifest written was refused ("is also in index-url").
- Held: a case-only change of an index scheme leaves the lock fresh and its bytes unchanged;
  ``show --json`` hides the password of ``HTTPS://u:p@h``; ``-o -`` is standard output for
  every format; exports through a symlinked directory are byte-stable, and those written
  beside the manifest hold no host path of the project.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.importers.pixi import read_pixi
from tests.support.cli import run_mlenv
from tests.support.fetch_project import index_and_links
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

FORMATS = ["requirements", "pylock", "cyclonedx", "k8s-affinity", "conda-lock", "explicit"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A locked project in ``root/proj``: an index, a source index, a find-links directory."""
    root = tmp_path_factory.mktemp("attack94")
    index = write_simple_index(root / "index", [build_wheel("app", "1.0", requires_dist=["fl"])])
    torch = write_simple_index(root / "tidx", [build_wheel("torch", "2.0")])
    sources = f'sources = {{ torch = "{torch}" }}\n'
    links = [build_wheel("fl", "0.5")]
    proj = index_and_links(root / "proj", index, links, ["app", "torch"], name="t", more=sources)
    env = {"MLENV_CACHE_DIR": str(root / "cache")}
    done = run_mlenv(["lock"], proj, env)
    assert done.returncode == 0, done.stderr
    return proj, env


def test_output_dot_slash_dash_writes_the_file_named_dash(
    project: tuple[Path, dict[str, str]],
) -> None:
    """Before: ``-o ./-`` printed the export and wrote no file."""
    proj, env = project
    plain = run_mlenv(["export", "--format", "pylock"], proj, env)
    written = run_mlenv(["export", "--format", "pylock", "-o", "./-"], proj, env)
    assert written.returncode == 0 == plain.returncode, written.stderr
    try:
        assert written.stdout == "" and "wrote ./-" in written.stderr
        assert (proj / "-").read_text() == plain.stdout
    finally:
        (proj / "-").unlink(missing_ok=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_dash_is_standard_output_in_every_format(
    project: tuple[Path, dict[str, str]], fmt: str
) -> None:
    """k8s-affinity refuses a lock with no CUDA target: the same refusal either way."""
    proj, env = project
    plain = run_mlenv(["export", "--format", fmt], proj, env)
    dash = run_mlenv(["export", "--format", fmt, "-o", "-"], proj, env)
    assert (dash.returncode, dash.stdout, dash.stderr) == (
        plain.returncode, plain.stdout, plain.stderr)  # fmt: skip
    assert plain.returncode == (1 if fmt == "k8s-affinity" else 0), plain.stderr
    assert not (proj / "-").exists()


def test_a_scheme_case_change_leaves_the_lock_fresh_and_unchanged(
    project: tuple[Path, dict[str, str]],
) -> None:
    """``file://`` rewritten ``FILE://`` and ``fIlE://``: the values read are the same, so the
    lock is fresh (``lock --check``, ``verify``) and a lock rewrites it byte for byte."""
    proj, env = project
    manifest = proj / "mlenv.toml"
    original, lock = manifest.read_text(), (proj / "mlenv.lock").read_bytes()
    try:
        for scheme in ("FILE", "fIlE"):
            manifest.write_text(original.replace('"file://', f'"{scheme}://'))
            for args in (["lock", "--check"], ["verify"], ["lock"]):
                done = run_mlenv(args, proj, env)
                assert done.returncode == 0, (args, done.stderr)
            assert (proj / "mlenv.lock").read_bytes() == lock
    finally:
        manifest.write_text(original)


def test_show_hides_the_password_of_an_upper_case_scheme(tmp_path: Path) -> None:
    secret = "s3cretPW0rd"
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "t"\npython = "3.11"\n[pypi]\n'
        f'index-url = "HTTPS://u:{secret}@Mirror.Example/simple"\n'
        f'extra-index-urls = ["hTtPs://{secret}@h2/simple"]\n'
        f'find-links = ["Http://u:{secret}@h3/links"]\n'
        f'sources = {{ torch = "HtTpS://__token__:{secret}@h4/simple" }}\n'
    )
    shown = run_mlenv(["show", "--json"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert secret not in shown.stdout + shown.stderr
    for url in ("https://***@Mirror.Example/simple", "https://***@h2/simple",
                "http://***@h3/links", "https://***@h4/simple"):  # fmt: skip
        assert f'"{url}"' in shown.stdout


def _pixi(pypi_options: str, features: str = "") -> str:
    return (
        '[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\npython = "3.11.*"\n'
        f"[pypi-options]\n{pypi_options}\n"
        '[pypi-dependencies]\nnumpy = "*"\n'
        'torch = { version = "*", index = "HTTPS://Download.pytorch.org/whl/cu128/" }\n'
        f"{features}"
    )


def test_pixi_index_of_a_package_in_another_case_is_the_same_index(tmp_path: Path) -> None:
    """pixi lists the index first among its extra ones, spelled in lower case: torch comes from
    it as the first index, no source needed. Before: kept as a source, and refused."""
    torch = "https://download.pytorch.org/whl/cu128"
    (tmp_path / "pixi.toml").write_text(_pixi(f'extra-index-urls = ["{torch}"]'))
    imported = read_pixi(tmp_path / "pixi.toml", ())
    assert imported.sources == () and torch in imported.extra_index_urls
    done = run_mlenv(["init", "--from", "pixi.toml"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert run_mlenv(["show"], tmp_path).returncode == 0


def test_pixi_features_naming_one_index_in_two_cases_agree(tmp_path: Path) -> None:
    """Before: 'torch comes from HTTPS://... here and https://... elsewhere'."""
    feature = (
        "[feature.gpu.pypi-dependencies]\n"
        'torch = { version = "*", index = "https://download.pytorch.org/whl/cu128" }\n'
    )
    (tmp_path / "pixi.toml").write_text(_pixi("", feature))
    imported = read_pixi(tmp_path / "pixi.toml", ("gpu",))
    assert [name for name, _ in imported.sources] == ["torch"]
    done = run_mlenv(["init", "--from", "pixi.toml", "--group", "gpu"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert run_mlenv(["show"], tmp_path).returncode == 0


def test_exports_are_byte_stable_and_hold_no_project_path_beside_it(
    project: tuple[Path, dict[str, str]],
) -> None:
    """Through a symlink whose depth differs from its target's, the manifest's directory is
    absolute and the same in two runs; beside the manifest, nothing names the project's path."""
    proj, env = project
    deep = proj.parent / "real" / "a" / "b" / "c"
    deep.mkdir(parents=True, exist_ok=True)
    link = proj.parent / "lnk"
    if not link.exists():
        link.symlink_to(deep)
    for fmt, name in (("requirements", "r.txt"), ("pylock", "p.toml")):
        texts = []
        for run in range(2):
            out = f"../lnk/{run}{name}"
            done = run_mlenv(["export", "--format", fmt, "-o", out], proj, env)
            assert done.returncode == 0, done.stderr
            texts.append((proj / out).read_bytes())
        assert texts[0] == texts[1] and str(proj.resolve()).encode() in texts[0]
        beside = run_mlenv(["export", "--format", fmt, "-o", name], proj, env)
        assert beside.returncode == 0, beside.stderr
        text = (proj / name).read_text()
        assert "wheels" in text and str(proj.resolve()) not in text and str(proj) not in text
