"""Pass 38: what adversary pass 34 reported and left open.

- A password typed with a raw ``?``, ``#`` or ``/`` *and* a raw ``@`` (``user:pa?ss@w@host``)
  showed its tail: the raw-password expression stops at the first ``@``, where the plain
  userinfo one runs to the authority's last. ``redaction._userinfo`` now carries a raw password on
  to that last ``@``, as the reference (raw password, then plain userinfo) reads it; a
  Hypothesis differential found ``https://:&?@@``.
- A find-links page's files stand beside the owning index's (uv and pip search them so): the
  PyG shape, a remote page holding wheels of a project whose PyPI page has only its sdist, is
  locked from the page under first-index; an extra *index* still never answers for a name the
  first knows (``index.group.IndexGroup.files``).
- A conda entry's ``cuda`` added by hand to a package that needs none passed `verify`
  (pass 37's open item): ``entry_needs._conda_item`` holds it to the need `lock` writes it from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from packaging.requirements import Requirement

from mlenv.conda.records import CondaRecord
from mlenv.index import IndexGroup, MemoryIndex
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.redaction import redact, redact_urls
from mlenv.report import MemoryReporter
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.locks import HASH, codes, conda_record, make_lock
from tests.support.old_redact import reference_redact
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

RAW_TAILS = [
    ("https://user:pa?ss@w@host/simple", "https://***@host/simple"),
    ("https://user:pa#ss@w@host/simple", "https://***@host/simple"),
    ("https://user:pa/ss@w@host/simple", "https://***@host/simple"),
    ("https://user:p?a@s@s@host:8443/simple", "https://***@host:8443/simple"),
    ("pip install -i https://u:S?CRET@TAIL@pypi.corp/simple x",
     "pip install -i https://***@pypi.corp/simple x"),
    ("https://:&?@@", "https://***@"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "shown"), RAW_TAILS)
@pytest.mark.parametrize("redactor", [redact, redact_urls], ids=["redact", "redact_urls"])
def test_a_raw_password_holding_an_at_sign_is_hidden_to_the_authoritys_last_one(
    redactor: Callable[[str], str], text: str, shown: str
) -> None:
    assert redactor(text) == shown
    assert redact(text) == reference_redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "https://user:pa/ss@host/x@y",  # the '@' after the path is no userinfo
        "https://host:8080/a@b",  # a port, not a password: the host stays for the inputs hash
        "https://user:pa?ss@host/simple?next=a@b",
    ],
)
def test_the_host_after_a_raw_password_stays_shown(text: str) -> None:
    assert "host" in redact(text)
    assert redact(text) == reference_redact(text)


TAIL_SHAPES: dict[str, Callable[[int], str]] = {
    "at-runs": lambda n: "https://u:p?@" + "w@" * (n // 2),
    "raw-then-long-run": lambda n: ("://u:p?@" + "a" * 50) * (n // 58),
    "raw-then-no-at": lambda n: "https://u:p?@" + "x" * n,
}


@pytest.mark.parametrize("make", TAIL_SHAPES.values(), ids=TAIL_SHAPES.keys())
def test_the_authority_tail_is_scanned_once(make: Callable[[int], str]) -> None:
    """The run after a raw password holds no '/', so no later "://" starts in it: 4x the text
    takes about 4x the time (a rescan per match would be 16x)."""
    assert growth(redact, make) < LINEAR_BOUND


def test_a_remote_find_links_page_offers_a_wheel_beside_an_sdist_only_index() -> None:
    """PyG's shape: PyPI knows torch-scatter (a page with its sdist only), PyG's page holds the
    wheel. Under first-index the page's wheel is locked, as pip and uv lock it; a later extra
    index's higher version of the same name is still never a candidate."""
    sdist = "torch_scatter-2.1.2.tar.gz"
    pypi = MemoryIndex("https://pypi.org/simple", {sdist: b"sdist"})
    extra = MemoryIndex(
        "https://mirror.example/simple", dict([build_wheel("torch-scatter", "9.0")])
    )
    page = MemoryIndex(
        "https://data.pyg.org/whl/torch-2.5.0+cu124.html",
        dict([build_wheel("torch-scatter", "2.1.2+pt25cu124")]),
    )
    group = IndexGroup([pypi, extra], "first-index", find_links=[page])
    resolution = resolve(
        [Requirement("torch-scatter")],
        Target("linux-64", "3.11", "2.28"),
        group,
        reporter=MemoryReporter(),
        workers=0,
    )
    assert {p.name: str(p.version) for p in resolution.pins} == {"torch-scatter": "2.1.2+pt25cu124"}
    assert not [call for call in extra.calls if call[1] == "torch-scatter"]


def _with_conda(record: CondaRecord) -> Lock:
    """A CUDA 12.6 lock holding ``record`` and nothing else, as ``make_lock`` writes one."""
    lock = make_lock([], cuda="12.6")
    return replace(lock, platforms=(LockedPlatform("linux-64", (), (record,)),))


@pytest.mark.parametrize("label", ["12.1", "11.8", "13.0", "unverified"])
@pytest.mark.parametrize("build", ["py311h0", "h0", "pyhd8ed1ab_0"])
def test_a_cuda_added_to_a_conda_entry_that_needs_none_is_a_mismatch(
    label: str, build: str
) -> None:
    """Pass 37 left it open: `lock` writes a conda entry's ``cuda`` only from the need its build
    string, depends and constrains give (``conda.solve``), so one on a package with none was
    written by hand, and `verify` passed it (``entry_needs._conda_item`` judged only a need
    it found). A plain numpy with ``cuda = "12.1"`` made the SBOM and the diff promise a CUDA
    build the image does not hold."""
    record = conda_record("numpy", "2.1.0", build, cuda=label)
    verdict = verify_lock(_with_conda(record), HASH, None)
    assert ("error", "lock-cuda-mismatch", "numpy") in codes(verdict)
    (finding,) = [f for f in verdict.findings if f.code == "lock-cuda-mismatch"]
    assert "no CUDA build" in finding.message
    assert "run `mlenv lock`" in finding.hint  # which clears it, moving no pin (attack 96)


def test_a_conda_entry_as_lock_writes_it_still_passes() -> None:
    """The same numpy without a ``cuda``, and a CUDA build recording its own, stay clean."""
    plain = conda_record("numpy", "2.1.0", "py311h0")
    built = conda_record("pytorch", "2.5.1", "cuda126_py311h0", cuda="12.6")
    for record in (plain, built):
        verdict = verify_lock(_with_conda(record), HASH, None)
        assert "lock-cuda-mismatch" not in {f.code for f in verdict.findings}
