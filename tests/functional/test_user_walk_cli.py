"""A platform engineer's first walk through mlenv with real mistakes: each error names what is
wrong and the one fix that applies (not a generic "relax the requirements"), says a shared fix
once, and every setting mlenv reads is findable from ``--help``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click

from mlenv.cli.app import cli
from mlenv.cuda.matrix import min_driver
from mlenv.cuda.versions import CudaVersion
from tests.support.cli import run_mlenv
from tests.support.httpserver import IndexServer
from tests.support.wheels import build_wheel, write_simple_index

ROOT = Path(__file__).resolve().parents[2]
WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b""}),
    build_wheel("lib", "1.0", files={"lib/__init__.py": b""}),
    build_wheel("needy", "1.0", requires_dist=["ghost"], files={"needy/__init__.py": b""}),
]


def _project(tmp_path: Path, deps: str, index: str | None = None, extra: str = "") -> Path:
    url = index or write_simple_index(tmp_path / "index", WHEELS)
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "walk"\npython = "3.11"\n{extra}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = [{deps}]\n'
    )
    return root


def _env(tmp_path: Path, cache: str = "cache") -> dict[str, str]:
    return {"MLENV_CACHE_DIR": str(tmp_path / cache)}


def test_a_name_no_index_lists_is_taken_for_a_spelling_mistake(tmp_path: Path) -> None:
    """``nmupy``: nothing conflicts, so "relax one of the conflicting requirements" sent the
    user after a conflict that does not exist."""
    root = _project(tmp_path, '"apq"')
    done = run_mlenv(["lock"], root, _env(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "hint: check the spelling of apq in [pypi].dependencies" in done.stderr
    assert "conflicting" not in done.stderr
    assert not (root / "mlenv.lock").exists()


def test_a_dependency_no_index_lists_asks_for_an_index_not_a_spelling(tmp_path: Path) -> None:
    """The manifest did not write ``ghost``: its spelling is not the user's to check."""
    root = _project(tmp_path, '"needy"')
    done = run_mlenv(["lock"], root, _env(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "ghost<" not in done.stderr and "ghost (from needy 1.0" in done.stderr
    assert "hint: add an index that has it" in done.stderr
    assert "spelling" not in done.stderr


def test_a_local_index_that_is_not_there_is_named(tmp_path: Path) -> None:
    """A typo in a file:// index URL made every package "not found" and never said the
    directory does not exist."""
    write_simple_index(tmp_path / "index", WHEELS)
    wrong = (tmp_path / "index" / "simpel").as_uri()
    root = _project(tmp_path, '"app"', index=wrong)
    done = run_mlenv(["lock"], root, _env(tmp_path))
    assert done.returncode == 1, done.stderr
    assert f"hint: {wrong}: no such directory" in done.stderr
    assert "[pypi] index-url" in done.stderr


def test_build_without_fetch_lists_each_artifact_and_says_the_fix_once(tmp_path: Path) -> None:
    """Nineteen missing wheels printed the same hint nineteen times."""
    root = _project(tmp_path, '"app"', extra='interpreter = "/usr/bin/python3.11"\n')
    assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
    done = run_mlenv(["build", "--offline"], root, _env(tmp_path))
    assert done.returncode == 1, done.stderr
    assert "app 1.0: missing" in done.stderr and "lib 1.0: missing" in done.stderr
    assert done.stderr.count("hint:") == 1
    assert "`mlenv --cache DIR build --offline`" in done.stderr
    assert not (root / "dist").exists()


def test_build_inside_a_carried_bundle_is_told_to_name_it_as_the_cache(tmp_path: Path) -> None:
    """At the air-gapped site, ``mlenv build --offline`` run inside the bundle looked in an
    empty home cache and told the user to bring a bundle: the one they were standing in."""
    root = _project(tmp_path, '"app"', extra='interpreter = "/usr/bin/python3.11"\n')
    assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
    fetched = run_mlenv(["fetch", "--bundle", str(tmp_path / "out")], root, _env(tmp_path))
    assert fetched.returncode == 0, fetched.stderr
    site = tmp_path / "site" / "carried"
    site.parent.mkdir()
    shutil.move(tmp_path / "out", site)
    done = run_mlenv(["build", "--offline"], site, _env(tmp_path, "empty"))
    assert done.returncode == 1, done.stderr
    assert "the manifest is in a bundle" in done.stderr
    assert "`mlenv --cache . build --offline`" in done.stderr
    built = run_mlenv(["--cache", ".", "build", "--offline"], site, _env(tmp_path, "empty"))
    assert built.returncode == 0, built.stderr
    assert (site / "dist" / "build.json").is_file()
    # the build beside the bundle is one extra entry, not one line per file of the image
    checked = run_mlenv(["verify", "--bundle", "."], site, _env(tmp_path, "empty"))
    assert checked.returncode == 1
    extra = [line for line in checked.stdout.splitlines() if line.startswith("EXTRA")]
    assert len(extra) == 1 and re.search(r"dist: a directory holding \d+ entries", extra[0])


def test_a_missing_driver_floor_is_given_the_one_its_cuda_needs(tmp_path: Path) -> None:
    """The hint offered 550.54.14 whatever the CUDA: a floor CUDA 13 refuses on the next run."""
    root = _project(tmp_path, "", extra='[cuda]\nversion = "13.0"\n')
    done = run_mlenv(["show"], root, _env(tmp_path))
    assert done.returncode == 1, done.stderr
    needed = min_driver(CudaVersion.parse("13.0"))
    assert f'CUDA 13.0 needs driver-floor = "{needed}"' in done.stderr
    assert "550.54.14" not in done.stderr


def test_a_missing_interpreter_hint_names_the_target_python(tmp_path: Path) -> None:
    root = _project(tmp_path, '"lib"')
    text = (root / "mlenv.toml").read_text().replace('"3.11"', '"3.12"')
    (root / "mlenv.toml").write_text(text)
    for command in (["lock"], ["fetch"]):
        assert run_mlenv(command, root, _env(tmp_path)).returncode == 0
    done = run_mlenv(["build", "--offline"], root, _env(tmp_path))
    assert done.returncode == 1, done.stderr
    assert 'interpreter = "/usr/bin/python3.12"' in done.stderr
    assert "python3.11" not in done.stderr


def test_help_names_every_environment_variable_mlenv_reads(tmp_path: Path) -> None:
    """uv and docker list the variables they read; a setting nobody can find from the command
    line silently differs between two runners."""
    read = set()
    for path in (ROOT / "mlenv").rglob("*.py"):
        read |= set(re.findall(r'"(MLENV_[A-Z_]+)"', path.read_text()))
    assert {"MLENV_CACHE_DIR", "MLENV_CA_BUNDLE", "MLENV_DOWNLOAD_SECONDS"} <= read
    shown = run_mlenv(["--help"], tmp_path).stdout
    assert sorted(v for v in read if v not in shown) == []
    for other in ("HTTPS_PROXY", "NO_PROXY", "NETRC", "DOCKER_CONFIG", "SOURCE_DATE_EPOCH"):
        assert other in shown


def _commands(group: click.Group, path: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{path}{name}", command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{path}{name} ")
    return found


def test_every_option_of_every_command_says_what_it_does() -> None:
    """``fetch -j`` was listed with a range and no word on what it bounds."""
    bare = [
        f"mlenv {name} {'/'.join(param.opts)}"
        for name, command in _commands(cli)
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert bare == []


def test_lock_offline_reads_pages_an_index_sent_without_caching_headers(tmp_path: Path) -> None:
    """A mirror that sends no ETag, Last-Modified or max-age (this machine's PyPI proxy): no
    page was kept, so ``lock --offline`` after a connected lock refused the first page it
    needed. uv keeps such pages for ``--offline``; online they are still fetched again."""
    write_simple_index(tmp_path / "index", WHEELS, json=True)  # sizes listed, as PyPI's
    with IndexServer(tmp_path / "index", validators=False) as server:
        root = _project(tmp_path, '"app"', index=f"{server.url}/simple")
        assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
        again = run_mlenv(["lock", "-P", "lib"], root, _env(tmp_path))
        assert again.returncode == 0, again.stderr
        assert len(server.requests_for("/simple/lib/")) == 2  # never taken as fresh online
    offline = run_mlenv(["lock", "--offline", "-P", "lib"], root, _env(tmp_path))
    assert offline.returncode == 0, offline.stderr
    assert 'name = "app"' in (root / "mlenv.lock").read_text()


def test_build_load_with_no_daemon_is_refused_before_the_build(tmp_path: Path) -> None:
    """``build --load`` built the whole image (minutes for torch) and only then found no
    daemon answering; ``docker build`` says so before its first step."""
    root = _project(tmp_path, '"app"', extra='interpreter = "/usr/bin/python3.11"\n')
    for command in (["lock"], ["fetch"]):
        assert run_mlenv(command, root, _env(tmp_path)).returncode == 0
    socket = f"unix://{tmp_path}/no-daemon/docker.sock"
    done = run_mlenv(
        ["build", "--offline", "--load"], root, {**_env(tmp_path), "DOCKER_HOST": socket}
    )
    assert done.returncode == 1, done.stderr
    assert f"error: {socket}: no Docker daemon answers" in done.stderr
    assert "Installing wheels" not in done.stderr
    assert not (root / "dist").exists()


def test_a_manifest_this_user_may_not_read_is_told_so(tmp_path: Path) -> None:
    """``chmod 000 mlenv.toml`` was hinted "name the manifest as a plain file": it is one."""
    root = _project(tmp_path, '"app"')
    (root / "mlenv.toml").chmod(0)
    # root reads any file: drop the capabilities that let it, so the mode is what decides
    unprivileged = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    prefix = unprivileged if os.geteuid() == 0 else []
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "mlenv", "lock"],
        cwd=root,
        env={**os.environ, **_env(tmp_path), "PIP_CONFIG_FILE": "/dev/null"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot read the manifest: Permission denied" in done.stderr
    assert "hint: give this user read access to the manifest" in done.stderr
    assert "plain file" not in done.stderr


def test_verify_of_an_output_says_the_output_was_checked(tmp_path: Path) -> None:
    """``mlenv verify dist/image.tar`` printed only the lock's verdict: nothing said the image
    was looked at, and a tampered one was blamed on "[target]"."""
    root = _project(tmp_path, '"app"', extra='interpreter = "/usr/bin/python3.11"\n')
    for command in (["lock"], ["fetch"], ["build", "--offline"]):
        assert run_mlenv(command, root, _env(tmp_path)).returncode == 0
    done = run_mlenv(["verify", "dist/image.tar"], root, _env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "dist/image.tar: matches its build.json, and that build matches mlenv.lock" in (
        done.stdout
    )
    with (root / "dist" / "image.tar").open("r+b") as image:
        image.seek(600)
        image.write(b"\xff")
    tampered = run_mlenv(["verify", "dist/image.tar"], root, _env(tmp_path))
    assert tampered.returncode == 1
    assert "output-digest-mismatch dist/image.tar: image.tar has sha256" in tampered.stdout
    assert "matches its build.json" not in tampered.stdout


def test_inspect_counts_installed_distributions_not_vendored_ones(tmp_path: Path) -> None:
    """torch's lock of 29 wheels was inspected as 45 packages: setuptools' _vendor/*.dist-info
    were counted as installed, typing-extensions twice at two versions."""
    vendored = "tool/_vendor/dep-1.0.dist-info"
    tool = build_wheel(
        "tool",
        "1.0",
        files={
            "tool/__init__.py": b"",
            f"{vendored}/METADATA": b"Metadata-Version: 2.1\nName: dep\nVersion: 1.0\n",
            f"{vendored}/RECORD": b"tool/_vendor/dep/__init__.py,,\n",
            "tool/_vendor/dep/__init__.py": b"x = 1\n",
        },
    )
    index = write_simple_index(tmp_path / "index", [tool])
    root = _project(tmp_path, '"tool"', index=index, extra='interpreter = "/usr/bin/python3.11"\n')
    for command in (["lock"], ["fetch"], ["build", "--offline"]):
        done = run_mlenv(command, root, _env(tmp_path))
        assert done.returncode == 0, done.stderr
    shown = run_mlenv(["inspect", "dist/image.tar", "--json"], root, _env(tmp_path))
    assert shown.returncode == 0, shown.stderr
    packages = json.loads(shown.stdout)["packages"]
    assert [(p["name"], p["version"]) for p in packages] == [("tool", "1.0")]


def test_a_platform_spelt_as_docker_spells_it_is_translated(tmp_path: Path) -> None:
    """``--platform linux/amd64`` (docker's reflex) or ``x86_64`` (uname's) were refused with
    nothing linking them to linux-64."""
    root = _project(tmp_path, '"lib"')
    assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
    for spelling, name in (("linux/amd64", "linux-64"), ("arm64", "linux-aarch64")):
        done = run_mlenv(["fetch", "--platform", spelling], root, _env(tmp_path))
        assert done.returncode == 1
        assert f"({spelling} is written {name} here)" in done.stderr
    exported = run_mlenv(["export", "--format", "requirements", "--platform", "x86_64"], root)
    assert exported.returncode == 1 and "(x86_64 is written linux-64 here)" in exported.stderr
    text = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(text.replace('python = "3.11"\n', 'python = "3.11"\n'
                                                  'platforms = ["x86_64"]\n'))  # fmt: skip
    shown = run_mlenv(["show"], root, _env(tmp_path))
    assert shown.returncode == 1 and 'did you mean "linux-64"?' in shown.stderr


def test_a_stale_lock_says_what_changed_in_the_manifest(tmp_path: Path) -> None:
    """``lock --check`` (and fetch, build) said only that two hashes differ; a reviewer had to
    diff the manifest by hand to learn which edit made the lock stale."""
    root = _project(tmp_path, '"app"')
    assert run_mlenv(["lock"], root, _env(tmp_path)).returncode == 0
    text = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(text.replace('["app"]', '["app", "lib>=1"]'))
    done = run_mlenv(["lock", "--check"], root, _env(tmp_path))
    assert done.returncode == 1
    assert "([target].requirements: +lib>=1)" in done.stderr
    (root / "mlenv.toml").write_text(text.replace('"3.11"', '"3.12"'))
    done = run_mlenv(["fetch"], root, _env(tmp_path))
    assert done.returncode == 1
    assert "([target].python: 3.11 in the lock, 3.12 in the manifest)" in done.stderr


def test_init_from_writes_the_imported_list_alone(tmp_path: Path) -> None:
    """``init --from requirements.txt`` kept the starter's commented ``numpy`` example at the
    head of the imported list, and left its last item without the comma the others have."""
    (tmp_path / "requirements.txt").write_text("pandas>=2\nseaborn\n")
    done = run_mlenv(["init", "--from", "requirements.txt"], tmp_path, _env(tmp_path))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "mlenv.toml").read_text()
    assert 'dependencies = [\n    "pandas>=2",\n    "seaborn",\n]\n' in text


def test_init_keeps_the_comments_of_the_starter_in_one_column(tmp_path: Path) -> None:
    """The name and Python filled into the starter pushed their comments out of line."""
    done = run_mlenv(["init", "--name", "x", "--python", "3.12"], tmp_path, _env(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "mlenv.toml").read_text().splitlines()
    keyed = [line for line in lines if re.match(r"[a-z][a-z-]* = .*  # ", line)]
    assert len(keyed) >= 5
    assert {line.index("  # ") + 2 for line in keyed} == {35}
