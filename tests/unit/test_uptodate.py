"""The no-op fast path of `mlenv lock` / `lock --check` (mlenv.uptodate, mlenv.inputs).

It may only ever answer "up to date" when the full reader would: these tests hold the two
paths against each other over generated manifests, and check the fast path loads nothing heavy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import inputs, uptodate
from mlenv.cli.app import cli
from mlenv.cli.app import main as cli_main
from mlenv.errors import MlenvError
from mlenv.lockfile_fresh import inputs_hash
from mlenv.manifest_read import loads as load_manifest
from tests.support.noop import imported, lock_for, manifest_text, mutations
from tests.support.wheels import build_wheel, write_simple_index

ROOT = Path(__file__).resolve().parents[2]


names = st.sampled_from(
    ["numpy", "torch", "Requests[socks]>=2", "lib<2,>=1", "a; python_version>'3'"]
)
urls = st.sampled_from(["https://pypi.org/simple", "file:///srv/simple", "https://x.example/s"])


@st.composite
def valid_manifests(draw: st.DrawFn) -> dict[str, dict[str, object]]:
    """Manifests the full reader accepts, with optional keys left out to exercise defaults."""
    environment: dict[str, object] = {
        "name": "env",
        "python": draw(st.sampled_from(["3.10", "3.11", "3.12"])),
    }
    if draw(st.booleans()):
        environment["platforms"] = draw(
            st.sampled_from([["linux-64"], ["linux-aarch64", "linux-64"]])
        )
    if draw(st.booleans()):
        environment["glibc"] = draw(st.sampled_from(["2.17", "2.28", "2.34"]))
    tables: dict[str, dict[str, object]] = {"environment": environment}
    pypi: dict[str, object] = {}
    if draw(st.booleans()):
        pypi["index-url"] = draw(urls)
    if draw(st.booleans()):
        pypi["extra-index-urls"] = draw(st.lists(urls, max_size=2, unique=True))
    if draw(st.booleans()):
        pypi["index-strategy"] = draw(st.sampled_from(["first-index", "best-match"]))
    if draw(st.booleans()):
        pypi["prerelease"] = draw(st.sampled_from(["fallback", "allow", "disallow"]))
    if draw(st.booleans()):
        pypi["constraints"] = draw(
            st.lists(st.sampled_from(["numpy<2", "b>=1; python_version>'3'"]), unique=True)
        )
    if draw(st.booleans()):
        pypi["overrides"] = draw(st.lists(st.sampled_from(["numpy<2", "c[x]>=1"]), unique=True))
    if draw(st.booleans()):
        pypi["find-links"] = draw(st.lists(st.sampled_from(["wheels", "/srv/w"]), unique=True))
    pypi["dependencies"] = draw(st.lists(names, max_size=3, unique=True))
    tables["pypi"] = pypi
    if draw(st.booleans()):
        tables["cuda"] = {"version": "12.4", "driver-floor": "550.54.14"}
        if draw(st.booleans()):
            tables["cuda"]["archs"] = ["sm_90", "sm_80"]
    if draw(st.booleans()):
        tables["conda"] = {"channels": ["conda-forge"], "dependencies": ["libgomp"]}
    if draw(st.booleans()):
        tables["build"] = {"compression": "zstd"}
    return tables


@given(valid_manifests())
def test_fast_and_full_inputs_hash_agree(tables: dict[str, dict[str, object]]) -> None:
    """Protects the fast path's core promise: on every valid manifest it computes the very
    hash the full reader writes into the lock (defaults included)."""
    text = manifest_text(tables)
    fast = inputs.toml_inputs(tomllib.loads(text))
    assert fast is not None
    assert inputs.digest(fast) == inputs_hash(load_manifest(text))


def check(tmp_path: Path, text: str, lock: str) -> tuple[int | None, int]:
    """The fast path's answer and the full CLI's (fast path bypassed) for one project."""
    (tmp_path / "mlenv.toml").write_text(text)
    (tmp_path / "mlenv.lock").write_text(lock)
    args = ["-q", "--manifest", str(tmp_path / "mlenv.toml"), "lock", "--check"]
    return uptodate.answer(args), cli_main(args)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # file IO per example: a shared CPU must not fail it  # fmt: skip
@given(valid_manifests(), st.lists(mutations, max_size=3))
def test_fast_path_says_fresh_only_when_the_full_check_does(
    tmp_path: Path, tables: dict[str, dict[str, object]], edits: list[tuple[str, str, object]]
) -> None:
    """Protects `lock --check` from a false "up to date": after arbitrary edits (unknown keys,
    wrong types, invalid or duplicate values, changed inputs) the fast path answers 0 only if
    the full CLI, run with the fast path bypassed, finds the lock fresh, once the values that
    cannot change a lock ([build], name; documented in mlenv.uptodate) are put back: a
    prefix or interpreter the full reader refuses is refused by the fast path too."""
    lock = lock_for(manifest_text(tables))
    edited = json.loads(json.dumps(tables))
    for table, key, value in edits:
        edited.setdefault(table, {})[key] = value
    fast, full = check(tmp_path, manifest_text(edited), lock)
    assert fast in (None, 0)
    if not edits:
        assert fast == full == 0
    if fast == 0 and full != 0:
        edited.pop("build", None)
        edited["environment"]["name"] = tables["environment"]["name"]
        assert check(tmp_path, manifest_text(edited), lock) == (0, 0)


def test_fast_path_refuses_a_lock_it_cannot_read(tmp_path: Path) -> None:
    """Protects `lock --check` from passing a lock the full lock reader refuses (merge-conflict
    markers, another format version, no inputs hash, not UTF-8, a damaged package sha256): the
    fast path reads the lock with that reader, so whatever it checks, the fast path checks."""
    text = manifest_text(
        {"environment": {"name": "e", "python": "3.11"}, "pypi": {"dependencies": ["lib"]}}
    )
    (tmp_path / "mlenv.toml").write_text(text)
    good = lock_for(text)
    args = ["-q", "--manifest", str(tmp_path / "mlenv.toml"), "lock", "--check"]
    (tmp_path / "mlenv.lock").write_text(good)
    assert uptodate.answer(args) == 0
    for bad in ("<<<<<<< HEAD\n" + good, good.replace("version = 1", "version = 2"),
                good.replace("inputs-hash", "inputs-hush"), "\ufffe" + good,
                good.replace("a" * 64, "not-a-digest")):  # fmt: skip
        (tmp_path / "mlenv.lock").write_text(bad)
        assert uptodate.answer(args) is None
        with pytest.raises(MlenvError):
            cli.main(args=args, prog_name="mlenv", standalone_mode=False)


@pytest.mark.parametrize(
    "args",
    [
        ["lock", "--upgrade"],
        ["lock", "-P", "torch"],
        ["lock", "--help"],
        ["--log-format", "json", "lock"],
        ["--log-format=json", "lock", "--check"],
        ["-vv", "lock"],
        ["export"],
        ["lock", "--check", "extra"],
        ["--manifest", "", "lock"],
        ["--manifest"],
        [],
    ],
)
def test_other_command_lines_go_to_the_full_cli(tmp_path: Path, args: list[str]) -> None:
    """Protects every option the fast path does not implement: it must not swallow them."""
    text = manifest_text({"environment": {"name": "e", "python": "3.11"}})
    (tmp_path / "mlenv.toml").write_text(text)
    (tmp_path / "mlenv.lock").write_text(lock_for(text))
    os.environ["MLENV_MANIFEST"] = str(tmp_path / "mlenv.toml")
    try:
        assert uptodate.answer(args) is None
        assert uptodate.answer(["lock"]) == 0  # the same project, plainly asked, is fresh
    finally:
        del os.environ["MLENV_MANIFEST"]


def run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlenv", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_noop_lock_and_check_load_nothing_heavy_end_to_end(tmp_path: Path) -> None:
    """Protects the speed of the no-op through the real entry point: a fresh lock is answered
    without click, the resolver, the index client or rich; a stale one still gets
    the full CLI's refusal."""
    text = manifest_text({"environment": {"name": "e", "python": "3.11"},
                          "pypi": {"dependencies": ["torch==2.14.1"]}})  # fmt: skip
    (tmp_path / "mlenv.toml").write_text(text)
    (tmp_path / "mlenv.lock").write_text(lock_for(text))
    heavy = {
        "click",
        "resolvelib",
        "mlenv.index",
        "mlenv.resolver",
        "mlenv.locking",
        "rich",
        "httpx",
    }
    for args in (["lock"], ["lock", "--check"], ["-q", "lock", "--check"]):
        result = run(args, tmp_path)
        assert result.returncode == 0, result.stderr
        assert not imported(result.stderr) & heavy, args
        quiet = "-q" in args
        assert ("mlenv.lock is up to date" in result.stderr) is not quiet
    (tmp_path / "mlenv.toml").write_text(text.replace("2.14.1", "2.14.0"))
    stale = run(["lock", "--check"], tmp_path)
    assert stale.returncode == 1
    assert "the lock is stale" in stale.stderr
    assert "click" in imported(stale.stderr)


def test_an_oversized_manifest_goes_to_the_full_reader(tmp_path: Path) -> None:
    """Protects the manifest size limit: a manifest whose inputs match the lock but which is
    over the limit (a huge comment) is not answered by the fast path; the full reader refuses
    it."""
    text = manifest_text({"environment": {"name": "e", "python": "3.11"}})
    padded = text + "#" + "x" * inputs.MAX_MANIFEST_CHARS + "\n"
    fast, full = check(tmp_path, padded, lock_for(text))
    assert (fast, full) == (None, 1)
    assert check(tmp_path, text, lock_for(text)) == (0, 0)


def test_a_warm_lock_reads_no_metadata_and_loads_no_installer(tmp_path: Path) -> None:
    """Protects the warm re-lock's speed: with the parsed-metadata cache filled, a lock parses
    no METADATA (no email parser), and neither the installer nor urllib.request (http.client,
    ssl) is loaded for a file:// index, nor click for a plain `lock`. app's METADATA has a CR
    line end, which only the email parser reads, so the cold lock shows that it parsed by
    importing it. Neither lock imports tomlkit (only documents mlenv edits need it), the
    modules that account for a failed resolution, nor the CUDA rules (no [cuda] table)."""
    wheels = [build_wheel("app", "1.0", requires_dist=["lib; extra == 'x'", "lib"],
                          extra_metadata=["Summary: an app\r"]),
              build_wheel("lib", "1.0")]  # fmt: skip
    url = write_simple_index(tmp_path / "index", wheels, metadata_files=False)
    (tmp_path / "mlenv.toml").write_text(
        manifest_text(
            {
                "environment": {"name": "e", "python": "3.11"},
                "pypi": {"index-url": url, "dependencies": ["app"]},
            }
        )
    )
    cache = str(tmp_path / "cache")
    cold = run(["-q", "lock"], tmp_path, MLENV_CACHE_DIR=cache)
    assert cold.returncode == 0, cold.stderr
    first = (tmp_path / "mlenv.lock").read_bytes()
    assert "packaging.metadata" in imported(cold.stderr)  # the cold lock did parse
    # a lock writes strings and edits no document; the failure account's modules wait for one
    failure_only = {"mlenv.dead_ends", "mlenv.went_back", "mlenv.nearest", "mlenv.passed_over"}
    # nor, without a [cuda] table or a CUDA build, the CUDA rules and what judges with them
    cuda_rules = {"mlenv.cuda.rules", "mlenv.cuda.policy", "mlenv.cuda.needs", "mlenv.cuda.pairs",
                  "mlenv.cuda.required", "mlenv.cuda.grouping", "mlenv.cuda.driver_cuda",
                  "mlenv.cuda.framework_archs", "mlenv.cuda.minor_said",
                  "mlenv.cuda.package_table", "mlenv.cuda.multi",
                  "mlenv.cuda.releases", "mlenv.cuda.archs"}  # fmt: skip
    # nor urllib.request for a file:// index (a manifest's find-links check once loaded it)
    unneeded = {"tomlkit", "mlenv.reason_tally", "urllib.request", *failure_only, *cuda_rules}
    assert not imported(cold.stderr) & unneeded
    (tmp_path / "mlenv.lock").unlink()
    warm = run(["-q", "lock"], tmp_path, MLENV_CACHE_DIR=cache)
    assert warm.returncode == 0, warm.stderr
    assert (tmp_path / "mlenv.lock").read_bytes() == first
    loaded = imported(warm.stderr)
    assert not loaded & {"packaging.metadata", "email.parser", "installer", "urllib.request"}
    assert "click" not in loaded


@pytest.mark.parametrize("args", [["-q", "lock"], ["lock"], ["-v", "lock"], ["lock", "--check"]])
def test_a_plain_lock_without_click_fails_as_the_cli_does(tmp_path: Path, args: list[str]) -> None:
    """Protects error reporting of the plain lock the entry point runs without click: a lock
    that cannot resolve (or a missing lock under --check) prints the same message and exits
    with the same status as through the CLI."""
    url = write_simple_index(tmp_path / "index", [build_wheel("lib", "1.0")])
    (tmp_path / "mlenv.toml").write_text(
        manifest_text(
            {
                "environment": {"name": "e", "python": "3.11"},
                "pypi": {"index-url": url, "dependencies": ["lib>=2"]},
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLENV_CACHE_DIR": str(tmp_path / "cache")}
    entry = subprocess.run([sys.executable, "-m", "mlenv", *args], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=False)  # fmt: skip
    full = f"import sys; from mlenv.cli.app import main; sys.exit(main({args!r}))"
    through_cli = subprocess.run(
        [sys.executable, "-c", full],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert entry.returncode == through_cli.returncode == 1
    assert entry.stderr == through_cli.stderr
    assert ("no lock here" if "--check" in args else "lib") in entry.stderr
    assert not (tmp_path / "mlenv.lock").exists()


def test_a_cache_option_the_cli_would_refuse_goes_to_the_full_cli(tmp_path: Path) -> None:
    """Protects option validation: `--cache` naming a file is a usage error of the full CLI,
    so the fast path must not answer "up to date" for it."""
    text = manifest_text({"environment": {"name": "e", "python": "3.11"}})
    check(tmp_path, text, lock_for(text))
    manifest = str(tmp_path / "mlenv.toml")
    assert uptodate.answer(["--cache", manifest, "-m", manifest, "lock"]) is None
    assert uptodate.answer(["--cache", str(tmp_path), "-m", manifest, "lock"]) == 0
    assert cli_main(["--cache", manifest, "-m", manifest, "lock"]) != 0


def test_an_edited_lock_head_is_never_fresh_on_the_fast_path(tmp_path: Path) -> None:
    """Protects `lock --check` from a lock whose [target] was edited while its inputs hash was
    kept: the hash covers the manifest only, so the head must be compared too."""
    text = '[environment]\nname = "env"\npython = "3.11"\n'
    lock = lock_for(text).replace('python = "3.11"', 'python = "3.12"')
    assert 'python = "3.12"' in lock
    fast, full = check(tmp_path, text, lock)
    assert fast is None
    assert full == 1


@pytest.mark.parametrize("setting", ["allow", "disallow"])
def test_a_prerelease_setting_makes_a_lock_stale_and_the_default_does_not(
    tmp_path: Path, setting: str
) -> None:
    """A lock made under one [pypi] prerelease rule is stale under another (the pins may
    differ), on the fast path and the full one; spelling out the default keeps older locks'
    hash."""
    plain = manifest_text({"environment": {"name": "e", "python": "3.11"}, "pypi": {}})
    lock = lock_for(plain)
    spelled = manifest_text(
        {"environment": {"name": "e", "python": "3.11"}, "pypi": {"prerelease": "fallback"}}
    )
    assert check(tmp_path, spelled, lock) == (0, 0)
    other = manifest_text(
        {"environment": {"name": "e", "python": "3.11"}, "pypi": {"prerelease": setting}}
    )
    fast, full = check(tmp_path, other, lock)
    assert fast is None and full == 1
    assert check(tmp_path, other, lock_for(other)) == (0, 0)
