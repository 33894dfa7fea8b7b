"""`[pypi] exclude-newer` end to end over a PEP 691 JSON index served in code: the lock takes
only files uploaded strictly before the cutoff, a plain date is the midnight that ends it, an
undated file is no candidate, the cutoff is an input whose change makes the lock stale, and a
project the cutoff leaves nothing of is named with the cutoff and what it excluded. Two
scenarios are uv's (``crates/uv/tests/it/lock_exclude_newer*.rs``), translated."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.cli import run_mlenv
from tests.support.httpserver import IndexServer
from tests.support.pypi_settings import dated_index, locked_pins, write_manifest
from tests.support.wheels import build_wheel

# uv's packse scenario exclude-newer-relative: dated-package's two releases
DATED = [
    ("dated-package", "3.6", "2023-11-25T15:40:54.902Z"),
    ("dated-package", "3.7", "2024-04-11T03:34:43.276Z"),
]


def _env(tmp_path: Path) -> dict[str, str]:
    return {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


@contextmanager
def _served(
    tmp_path: Path,
    releases: Sequence[tuple[str, str, object]],
    pypi: str,
    yanked: Mapping[str, str] | None = None,
) -> Iterator[Path]:
    """The manifest of a project in ``tmp_path/p`` over a served JSON index of ``releases``,
    with the [pypi] lines ``pypi``, while the index runs."""
    index = dated_index(tmp_path / "index", releases, yanked)
    with IndexServer(index) as server:
        yield write_manifest(tmp_path / "p", f"{server.url}/simple", pypi)


def _lock(manifest: Path, tmp_path: Path, *args: str) -> str:
    done = run_mlenv(["lock", *args], manifest.parent, _env(tmp_path))
    assert done.returncode == 0, done.stderr
    return done.stderr


def _check(manifest: Path, tmp_path: Path) -> int:
    """``lock --check``'s exit status: 0 fresh, 1 stale."""
    return run_mlenv(["lock", "--check"], manifest.parent, _env(tmp_path)).returncode


def _retimed(manifest: Path, old: str, new: str) -> None:
    manifest.write_text(manifest.read_text().replace(old, new))


def _pins(manifest: Path) -> dict[str, str]:
    return locked_pins(manifest.parent)


def test_the_lock_takes_the_release_uploaded_before_the_cutoff(tmp_path: Path) -> None:
    pypi = 'dependencies = ["dated-package"]\nexclude-newer = "2024-04-10T00:00:00Z"\n'
    with _served(tmp_path, DATED, pypi) as manifest:
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"dated-package": "3.6"}
        shown = run_mlenv(["show", "--json"], manifest.parent, _env(tmp_path)).stdout
        assert '"exclude-newer": "2024-04-10T00:00:00Z"' in shown
        said = run_mlenv(["show"], manifest.parent, _env(tmp_path)).stdout
        assert "uploaded before 2024-04-10T00:00:00Z ([pypi] exclude-newer)" in said


def test_a_plain_date_is_the_midnight_that_ends_it_in_utc(tmp_path: Path) -> None:
    """uv's reading: "2024-04-11" takes what was uploaded on the 11th (3.7, at 03:34)."""
    pypi = 'dependencies = ["dated-package"]\nexclude-newer = "2024-04-11"\n'
    with _served(tmp_path, DATED, pypi) as manifest:
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"dated-package": "3.7"}
        # the fast path hashes "2024-04-11" as written and defers to the full reader: fresh
        assert _check(manifest, tmp_path) == 0
        _retimed(manifest, "2024-04-11", "2024-04-10")
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"dated-package": "3.6"}


def test_the_cutoff_instant_itself_is_excluded(tmp_path: Path) -> None:
    """uv excludes a file uploaded at the cutoff (``upload_time >= cutoff``)."""
    pypi = 'dependencies = ["dated-package"]\nexclude-newer = "2024-04-11T03:34:43.276Z"\n'
    with _served(tmp_path, DATED, pypi) as manifest:
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"dated-package": "3.6"}


def test_a_file_without_an_upload_time_is_no_candidate(tmp_path: Path) -> None:
    releases = [("a", "1.0", "2020-01-01T00:00:00Z"), ("a", "2.0", None)]
    pypi = 'dependencies = ["a"]\nexclude-newer = "2030-01-01"\n'
    with _served(tmp_path, releases, pypi) as manifest:
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"a": "1.0"}
        # without the key the undated 2.0 is the newest release, as before
        _retimed(manifest, 'exclude-newer = "2030-01-01"\n', "")
        _lock(manifest, tmp_path, "--upgrade")
        assert _pins(manifest) == {"a": "2.0"}


def test_uv_lock_exclude_newer_older_vs_newer(tmp_path: Path) -> None:
    """uv's ``lock_exclude_newer_older_vs_newer`` with absolute cutoffs: an earlier cutoff
    makes the lock stale and moves 3.7 back to 3.6; a later one again keeps 3.6 (still
    valid) until an upgrade takes 3.7."""
    pypi = 'dependencies = ["dated-package"]\nexclude-newer = "2024-04-17T00:00:00Z"\n'
    with _served(tmp_path, DATED, pypi) as manifest:
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"dated-package": "3.7"}
        assert _check(manifest, tmp_path) == 0
        _retimed(manifest, "2024-04-17", "2024-04-10")
        assert _check(manifest, tmp_path) == 1
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"dated-package": "3.6"}
        _retimed(manifest, "2024-04-10", "2024-04-17")
        assert _check(manifest, tmp_path) == 1
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"dated-package": "3.6"}
        _lock(manifest, tmp_path, "--upgrade")
        assert _pins(manifest) == {"dated-package": "3.7"}


def test_uv_late_package_published_after_the_cutoff_is_named(tmp_path: Path) -> None:
    """uv's ``lock_exclude_newer_relative_values``' last case: every release of late-package
    was published after 2006-12-02T02:07:43Z, so nothing resolves, and the error says why."""
    releases = [
        ("late-package", "1.0", "2024-01-01T00:00:00Z"),
        ("late-package", "2.0", "2024-06-01T12:00:00Z"),
    ]
    pypi = 'dependencies = ["late-package"]\nexclude-newer = "2006-12-02T02:07:43Z"\n'
    with _served(tmp_path, releases, pypi) as manifest:
        done = run_mlenv(["lock"], manifest.parent, _env(tmp_path))
        assert done.returncode == 1, done.stderr
        assert "late-package: no file on" in done.stderr
        assert "uploaded before [pypi] exclude-newer 2006-12-02T02:07:43Z" in done.stderr
        assert "(the newest excluded: 2.0, uploaded 2024-06-01T12:00:00Z)" in done.stderr
        assert not (manifest.parent / "mlenv.lock").exists()


def test_a_yanked_release_after_the_cutoff_is_refused_as_excluded(tmp_path: Path) -> None:
    """uv judges the cutoff before the yank: a pin on a late yanked release names the cutoff."""
    releases = [("a", "1.0", "2020-01-01T00:00:00Z"), ("a", "2.0", "2027-01-01T00:00:00Z")]
    pypi = 'dependencies = ["a==2.0"]\nexclude-newer = "2026-01-01"\n'
    yanked = {"a-2.0-py3-none-any.whl": "broken"}
    with _served(tmp_path, releases, pypi, yanked) as manifest:
        done = run_mlenv(["lock"], manifest.parent, _env(tmp_path))
        assert done.returncode == 1
        assert "refused: 2.0: uploaded at or after [pypi] exclude-newer" in done.stderr
        assert "yanked" not in done.stderr
        assert "hint: move [pypi] exclude-newer later" in done.stderr


def test_find_links_wheels_are_never_excluded(tmp_path: Path) -> None:
    """As uv's flat index: the user's own wheels carry no upload time and stay candidates."""
    links = tmp_path / "links"
    links.mkdir()
    filename, data = build_wheel("a", "3.0")
    (links / filename).write_bytes(data)
    pypi = (
        f'dependencies = ["a"]\nfind-links = ["{links.as_uri()}"]\nexclude-newer = "2026-01-01"\n'
    )
    with _served(tmp_path, [("a", "1.0", "2020-01-01T00:00:00Z")], pypi) as manifest:
        _lock(manifest, tmp_path)
        assert _pins(manifest) == {"a": "3.0"}
