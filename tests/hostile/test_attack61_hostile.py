"""Attack 61: uv's index order (extra-index-urls before index-url), [pypi] sources, and the
resolver's cycle guard and second search."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resolvelib import BaseReporter, ResolutionImpossible

from mlenv.backtrack import resolve_or_retry
from mlenv.cycles import Cycling
from mlenv.errors import ManifestError
from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.index.http import HttpClient
from mlenv.manifest_read import loads
from mlenv.relock import changes
from tests.support.cli import run_mlenv
from tests.support.httpserver import IndexServer
from tests.support.locks import locked, make_lock
from tests.support.toy_resolver import Need, Release, ToyProvider
from tests.support.wheels import build_wheel

HEAD = '[environment]\nname = "t"\npython = "3.11"\n[pypi]\n'


@pytest.mark.parametrize(
    ("source", "extra"),
    [
        ("https://__token__:s3cret@pkgs.example/simple", "https://pkgs.example/simple"),
        ("https://pkgs.example/simple", "https://deploy:pw@pkgs.example/simple/"),
        ("https://PKGS.Example/simple", "https://pkgs.example/simple"),
    ],
)
def test_a_source_that_is_also_an_extra_index_in_another_spelling_is_refused(
    source: str, extra: str
) -> None:
    # Otherwise the extra index serves every project from the source's URL, and the lock it
    # writes is drift for lock --check forever (an unpinned entry from the source's index).
    text = HEAD + f'extra-index-urls = ["{extra}"]\nsources = {{ torch = "{source}" }}\n'
    with pytest.raises(ManifestError) as caught:
        loads(text)
    shown = "\n".join(f"{p.where} {p.message} {p.hint}" for p in caught.value.problems)
    assert "sources.torch" in shown and "serves every project" in shown
    assert "s3cret" not in shown and "pw@" not in shown


# --- the resolver against a brute-force solver -----------------------------------------------

SetWorld = dict[str, dict[int, list[tuple[str, frozenset[int]]]]]


def _mlenv(world: SetWorld, roots: list[str]) -> dict[str, int] | None:
    reporter: BaseReporter[Need, Release, str] = BaseReporter()
    needs = [Need(r, frozenset(world[r])) for r in roots]
    try:
        state = resolve_or_retry(ToyProvider(world), reporter, needs, 2000)
    except (ResolutionImpossible, Cycling):
        return None
    return {name: release.version for name, release in state.mapping.items()}


def _consistent(world: SetWorld, roots: list[str], pins: Mapping[str, int | None]) -> bool:
    return all(pins.get(r) is not None for r in roots) and all(
        pins.get(dep) in allowed
        for name, version in pins.items()
        if version is not None
        for dep, allowed in world[name][version]
    )


def _brute(world: SetWorld, roots: list[str]) -> dict[str, int | None] | None:
    names = sorted(world)
    for combo in itertools.product(*[[None, *world[n]] for n in names]):
        pins = dict(zip(names, combo, strict=True))
        if _consistent(world, roots, pins):
            return pins
    return None


def test_a_pin_whose_dependencies_were_dropped_is_pinned_again() -> None:
    # c 4 makes b 3 unsatisfying (b==1), so resolvelib drops b 3's c==4; a 1 then replaces
    # c 4 by c 2, b 3 satisfies what is left and was returned with c 2: no resolution exists.
    world: SetWorld = {
        "a": {1: [("c", frozenset({1, 2}))]},
        "b": {1: [("c", frozenset({1}))], 2: [("c", frozenset({1}))], 3: [("c", frozenset({4}))]},
        "c": {2: [], 4: [("a", frozenset({1})), ("b", frozenset({1}))]},
    }
    assert _mlenv(world, ["b"]) is None


def test_pins_that_undo_each_other_in_a_solvable_world_find_its_resolution() -> None:
    # resolvelib pins a, d, c and b over each other without a conflict until the cycle guard
    # stops it (plain resolvelib gives up after max_rounds); a 1, b 1, c 1, d 4 works.
    f = frozenset
    world: SetWorld = {
        "a": {1: [("d", f({1, 2, 3, 4})), ("b", f({1}))], 2: [], 3: [("b", f({1}))]},
        "b": {1: [("a", f({1, 2, 3}))], 2: [("a", f({1, 2})), ("d", f({1, 2, 3, 4}))]},
        "c": {
            1: [("a", f({1}))],
            2: [("b", f({1, 2, 3, 4})), ("a", f({1})), ("d", f({1, 2}))],
            3: [("a", f({1})), ("d", f({1, 4}))],
        },
        "d": {
            2: [("a", f({1, 2, 3})), ("c", f({1, 3, 4}))],
            4: [("a", f({1, 2, 3, 4})), ("c", f({1, 2}))],
        },
        "e": {1: [("a", f({1}))], 2: [], 3: [("a", f({1}))]},
    }
    found = _mlenv(world, ["a", "d"])
    assert found is not None and _consistent(world, ["a", "d"], found)


_NAMES = ("a", "b", "c", "d")


@st.composite
def _worlds(draw: st.DrawFn) -> tuple[SetWorld, list[str]]:
    names = _NAMES[: draw(st.integers(2, len(_NAMES)))]
    world: SetWorld = {}
    for name in names:
        world[name] = {}
        for version in draw(st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True)):
            deps = draw(
                st.lists(
                    st.tuples(st.sampled_from(names), st.frozensets(st.integers(1, 4), min_size=1)),
                    max_size=3,
                    unique_by=lambda dep: dep[0],
                )
            )
            world[name][version] = [(d, allowed) for d, allowed in deps if d != name]
    roots = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    return world, roots


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_worlds())
def test_the_resolver_agrees_with_brute_force(case: tuple[SetWorld, list[str]]) -> None:
    world, roots = case
    found = _mlenv(world, roots)
    if found is not None:
        assert _consistent(world, roots, found)
    assert (found is None) == (_brute(world, roots) is None)


def test_a_relock_that_takes_a_project_from_another_index_says_so() -> None:
    # An internal index-url and PyPI as an extra: under uv's order PyPI is asked first, and a
    # same-numbered upload there replaces the internal build with no line in the report.
    internal = "https://pkgs.internal/simple"
    before = make_lock([locked("corp-utils", "1.0", index=internal), locked("numpy", "2.0")])
    after = make_lock([locked("corp-utils", "1.0"), locked("numpy", "2.1")])
    shown = [str(change) for change in changes(before, after)]
    assert shown == [
        f"~ corp-utils 1.0 from {internal} -> 1.0 from https://pypi.org/simple (linux-64)",
        "~ numpy 2.0 -> 2.1 (linux-64)",
    ]


def test_fetch_sends_a_find_links_pages_credentials_as_lock_did(tmp_path: Path) -> None:
    # lock reads a find-links page with its user:token@; fetch then downloaded the wheel the
    # lock names from there without them (it loaded only the indexes' and channels'): 401.
    secret = "s3cretT0ken"
    filename, data = build_wheel("gamma", "1.0")
    (tmp_path / "www" / "wheels").mkdir(parents=True)
    (tmp_path / "www" / "wheels" / filename).write_bytes(data)
    (tmp_path / "www" / "wheels" / "index.html").write_text(f'<a href="{filename}">x</a>\n')
    project = tmp_path / "project"
    project.mkdir()
    with IndexServer(tmp_path / "www", auth=("alice", secret)) as server:
        host = server.url.removeprefix("http://")
        (project / "mlenv.toml").write_text(
            f'{HEAD}index-url = "file://{tmp_path}/none"\n'
            f'find-links = ["http://alice:{secret}@{host}/wheels/"]\ndependencies = ["gamma"]\n'
        )
        (tmp_path / "none").mkdir()
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache-lock")}
        locked = run_mlenv(["lock"], cwd=project, env=env)
        assert locked.returncode == 0, locked.stderr
        assert secret not in (project / "mlenv.lock").read_text()
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache-fetch")}
        fetched = run_mlenv(["fetch"], cwd=project, env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert secret not in fetched.stdout + fetched.stderr


def test_two_indexes_on_one_host_each_send_their_own_token() -> None:
    # GitLab project registries: index-url and an extra index on one host, a deploy token
    # each. Credentials were kept per origin: the last index opened (index-url, under uv's
    # order; an extra one in fetch) sent its token for both, and the other answered 401.
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization", "")))
        return httpx.Response(200, content=b"ok")

    base = "https://gitlab.example/api/v4/projects"
    with HttpClient(transport=httpx.MockTransport(answer), retries=0) as http:
        http.add_credentials(f"https://one:T1@{base[8:]}/1/packages/pypi/simple")
        http.add_credentials(f"https://two:T2@{base[8:]}/2/packages/pypi/simple")
        for project in ("1", "2"):
            http.get(f"{base}/{project}/packages/pypi/simple/torch/")
            http.get(f"{base}/{project}/packages/pypi/files/abc/torch-2.7.0-py3-none-any.whl")
    tokens = {path.split("/")[4]: header for path, header in seen}
    assert len(seen) == 4 and set(tokens) == {"1", "2"}
    assert all(header == _basic("one", "T1") for path, header in seen if "/1/" in path)
    assert all(header == _basic("two", "T2") for path, header in seen if "/2/" in path)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


PIXI = """[workspace]
name = "p"
channels = ["conda-forge"]
platforms = ["linux-64"]
[pypi-options]
extra-index-urls = [{extras}]
[pypi-dependencies]
torch = {{ version = "==2.7.0", index = "{cu128}" }}
"""
CU128 = "https://download.pytorch.org/whl/cu128"


def test_init_from_pixi_keeps_a_per_package_index_that_is_also_an_extra_one(
    tmp_path: Path,
) -> None:
    # pixi's torch = { index = ... } beside the same index in extra-index-urls: mlenv wrote it
    # as a source and an extra index both, and refused its own manifest. As the first index
    # asked it supplies torch anyway; behind another, torch could come from that one.
    path = tmp_path / "pixi.toml"
    path.write_text(PIXI.format(extras=f'"{CU128}"', cu128=CU128))
    imported = import_file(path)
    assert imported.sources == () and imported.extra_index_urls == (CU128,)
    path.write_text(PIXI.format(extras=f'"https://pkgs.internal/simple", "{CU128}"', cu128=CU128))
    with pytest.raises(ImportFileError) as caught:
        import_file(path)
    assert "list https://download.pytorch.org/whl/cu128 first" in str(caught.value.problems)
