"""Attack 186: today's changes (752fad5..): the lock-time download a stated digest now causes,
connect_to's route probe, spelling hints, project names through the importers, host checks.

Findings (input: what mlenv did -> what it does now):

- A page stating a file's size (PEP 691 ``size``: 1,000) and an ``md5`` beside its sha256, for
  a file its server answers with 10 GB: lock read the whole body to check the md5 (a stated
  digest now makes lock measure the file) -> the read stops one byte past the stated size and
  refuses the file; a file whose size no page states is read to the largest package mlenv
  takes (8 GiB), never without end.
- A manifest requirement of a letter, 128 KiB of blanks and a letter (or a tab run), and a
  ``python`` of ``py``, blanks and a letter: the new spelling hints tried every split of the
  blanks (pip's ``--hash`` and ``# comment`` patterns, the CPython spelling), minutes of work
  for one value (15 s at 32 KiB, fourfold per doubling) -> read word by word, at once.
- A conflict whose chains pass 200 packages of 5,000 releases, with a manifest of 100
  requirements: the new "went back" account listed and compared every package's releases
  past the budget ``dead_ends`` keeps (each release against every manifest requirement): 7 s
  -> it stops where ``dead_ends`` gives up (0.6 s), each requirement list read once.
"""

from __future__ import annotations

import json

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv import locking_facts
from mlenv.dead_ends import WORK, Need, World
from mlenv.errors import ManifestError
from mlenv.index import PackageIndexError, SimpleIndex
from mlenv.index.http import HttpClient
from mlenv.locking_facts import artifact_facts
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.went_back import Step, went_back, within
from tests.support.flood import Flood, FloodServer

pytestmark = pytest.mark.hostile

_WHEEL = "demo-1.0-py3-none-any.whl"
_JSON = {"Content-Type": "application/vnd.pypi.simple.v1+json"}


def _page(hashes: dict[str, str], size: int) -> bytes:
    entry = {"filename": _WHEEL, "url": _WHEEL, "hashes": hashes, "size": size}
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": [entry]}).encode()


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    "hashes",
    [
        {"sha256": "a" * 64, "md5": "b" * 32},
        {"sha256": "a" * 64, "sha512": "c" * 128},
        {"md5": "b" * 32},
    ],
    ids=["md5", "sha512", "md5-alone"],
)
def test_a_stated_digest_never_makes_lock_read_past_the_largest_package(
    hashes: dict[str, str], length: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``locking_facts.artifact_facts``: a bogus md5 on a file served past the largest package mlenv
    accepts (1 MiB here, standing in for 8 GiB) is refused after at most a few MiB on the wire
    (the server's socket buffers); before, lock read and hashed all of it before it found the
    md5 wrong. A wrong stated size alone is no refusal (attack 172: the lock keeps the
    measured size)."""
    monkeypatch.setattr(locking_facts, "MAX_WHEEL_BYTES", 1 << 20)
    routes = {
        "/simple/demo/": Flood(prefix=_page(hashes, 1000), size=0, headers=_JSON),
        f"/simple/demo/{_WHEEL}": Flood(prefix=b"", size=256 << 20, length=length),
    }
    with FloodServer(routes) as server:
        index = SimpleIndex(f"{server.url}/simple/", http=HttpClient())
        with pytest.raises(PackageIndexError) as refused:
            artifact_facts(index, index.files(canonicalize_name("demo")), MemoryReporter())
        sent = server.sent
    assert "serves more than the 1,048,576 bytes a package may hold" in refused.value.message
    assert _WHEEL in refused.value.message
    assert sent < 32 << 20  # counted, not timed: far short of the 256 MiB offered


_BLANKS = " " * (128 << 10)


def _hints(python: str, *requirements: str) -> dict[str, str | None]:
    listed = ", ".join(json.dumps(r) for r in requirements)
    text = (
        f'[environment]\nname = "demo"\npython = {json.dumps(python)}\n'
        f"[pypi]\ndependencies = [{listed}]\n"
    )
    with pytest.raises(ManifestError) as refused:
        loads(text, source="m.toml")
    return {problem.where: problem.hint for problem in refused.value.problems}


def test_a_requirement_or_python_of_long_blank_runs_is_hinted_in_one_pass() -> None:
    """``spelled.requirement_line`` and ``spelled.python_version``: values built so a
    backtracking pattern splits a 128 KiB blank run every way are judged at once, and the
    hints they gave keep being given."""
    hints = _hints(
        f"py{_BLANKS}x",
        f"a{_BLANKS}x",
        "\t" * (128 << 10),
        f"a{_BLANKS};",
        "numpy>=1.26 --hash=sha256:abc --hash sha256:def",
        "numpy  # pinned by ops",
        "numpy --hash",
    )
    assert hints["m.toml: [pypi].dependencies[3]"] == (
        'did you mean "numpy>=1.26"? mlenv.lock records every file\'s sha256 itself'
    )
    assert hints["m.toml: [pypi].dependencies[4]"] == (
        'did you mean "numpy"? a TOML comment goes after the closing quote'
    )
    assert "did you mean" not in str(hints["m.toml: [pypi].dependencies[5]"])
    assert len(hints) == 7  # the python value and each requirement, each judged


def test_the_went_back_account_stops_at_the_budget_dead_ends_keeps() -> None:
    """``went_back``: 200 packages on the chains to a conflict, 5,000 releases each, seen
    through a manifest of 100 requirements. Before, every package's releases were listed and
    compared past ``dead_ends.WORK`` (and each release against all 100 requirements): 1,000,000
    releases listed, seconds per conflict growing with each dimension; now the account stops
    where ``dead_ends`` gives up, and lists what it does."""
    releases = [Version(f"1.{i}") for i in reversed(range(5000))]
    looked = [0]

    def listed(name: NormalizedName) -> list[Version]:
        looked[0] += len(releases)
        return releases

    blocked = World(
        listed, lambda name, version: [Need(canonicalize_name("zz"), SpecifierSet(">=1"), "zz>=1")]
    )
    manifest = [(canonicalize_name(f"r{i}"), SpecifierSet(">=0")) for i in range(100)]
    steps = [
        Step(canonicalize_name(f"p{i}"), Version("1.0"), (SpecifierSet(">=0"),)) for i in range(200)
    ]
    assert went_back(steps, within(blocked, manifest)) == []  # past the budget: no account
    assert looked[0] <= WORK + 2 * len(releases)
