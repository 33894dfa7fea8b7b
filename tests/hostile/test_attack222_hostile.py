"""Attack 222: near-variants of attack 219's redactor rules that its tests did not try.

Found and fixed (before, ``redact``, ``without_secrets`` and ``printable`` showed the secret):

- A known token split by a C1 control (``\\x85``, ``\\x9b``, or its ``\\x85``/``\\u0085``
  escape), a zero-width character (``\\u200b``, ``\\u2060``, ``\\ufeff``) or a terminal's
  colour sequence (``ghp_Zq8v\\x1b[31mKp3m...``, ``gh\\x1b[0mp_...``): a terminal shows the
  token whole across each. ``redaction_lines._CONTROL`` and ``_IN_PREFIX`` glue them.
- A password in a bytes value pprint splits into adjacent ``b'...'`` literals (it splits a
  long bytes value every few characters): ``redaction_userinfo.QUOTE_END`` and
  ``_LITERALS_JOINED`` read on across a ``b`` before the next literal's quote.
- A ``Bearer`` scheme in mixed case (``BeArEr``; RFC 9110 11.1: schemes are
  case-insensitive): ``redaction._AUTH_VALUE_SHOWN`` reads ``bearer`` in any case.

- Quadratic reads in ``mlenv.echoed`` (every message shown): ``without_secrets`` on 80,000
  characters of ``!\\x00`` took 97 s (``_TOKEN_USER``), ``shown`` on 100,000 of ``"\\``
  took 32 s (``_QUOTED``).
- Driver readings: a stale ``/etc/nv_tegra_release`` on an x86_64 node made ``verify --host``
  refuse to judge the dGPU driver it read (exit 3, the floor unchecked); the NVML library line
  with doubled blanks, tabs or ``_`` was offered back as the driver to write.

Held (tried, hidden or kept as documented): lowercase and uppercase ``bearer``,
``Proxy-Authorization``, ``Cookie: token=``, a fold of mixed tabs and blanks, digit passwords
past 65535, hosts and ports in pip/uv messages, ``Author: a@b.c``, CUDA/driver messages.
"""

from __future__ import annotations

import pprint
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv import host
from mlenv.cuda.versions import CudaError, DriverVersion
from mlenv.echoed import shown, without_secrets
from mlenv.redaction import redact, redact_urls
from tests.support.cli import run_in_process
from tests.support.cuda_project import locked_cuda_project
from tests.support.fake_host import FakeHost, with_glibc
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.hidden_secrets import BODY as _BODY
from tests.support.hidden_secrets import SECRET as _SECRET
from tests.support.hidden_secrets import assert_hidden as _assert_hidden

pytestmark = pytest.mark.hostile


_SPLITS = [
    "\x85",
    "\x9b",
    "\x80",
    "\u200b",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\x1b[31m",
    "\x1b[0m",
    "\x1b[1;32m",
    "\\x85",
    "\\u0085",
    "\\x9b",
]


@pytest.mark.parametrize("split", _SPLITS)
@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "glpat-", "pypi-AgEIcHlwaS5vcmc", "xoxb-1-"])
def test_a_token_split_by_a_c1_control_a_zero_width_or_a_colour_is_hidden(
    split: str, prefix: str
) -> None:
    """Before: ``ghp_Zq8vKp3mWx\\x1b[31m7TnR...`` and ``...\\u200b...`` shown whole."""
    for at in (2, 10):
        _assert_hidden(_BODY, f"token {prefix}{_BODY[:at]}{split}{_BODY[at:]} refused")
        _assert_hidden(_BODY, f"https://h.example/x/{prefix}{_BODY[:at]}{split}{_BODY[at:]}/y")


@pytest.mark.parametrize("split", ["\x1b[0m", "\x85", "\u200b"])
def test_a_prefix_split_by_a_colour_is_hidden(split: str) -> None:
    """Before: ``gh\\x1b[0mp_...`` shown whole."""
    _assert_hidden(_BODY, f"token gh{split}p_{_BODY} refused")


def test_a_password_in_pprinted_bytes_is_hidden() -> None:
    """Before: pprint splits a long bytes value into ``b'...'`` literals on indented lines;
    the userinfo's run ended at the first one's quote and the rest of the password showed."""
    url = f"https://alice:{_SECRET}{'x' * 30}@h.example/simple".encode()
    for text in (
        pprint.pformat({"index-url": url}, width=40),
        pprint.pformat([url, b"numpy"], width=30),
    ):
        assert "'\n" in text and "b'" in text.split("\n")[1]  # pprint split it into literals
        _assert_hidden(_SECRET, text)
        assert "***@h.example" in redact(text)


@pytest.mark.parametrize("scheme", ["BeArEr", "bEARER", "Bearer", "bearer", "BEARER"])
def test_a_bearer_scheme_in_any_case_is_hidden(scheme: str) -> None:
    """Before: ``BeArEr S3cret...`` shown (only three spellings were read)."""
    _assert_hidden(_SECRET, f"sent {scheme} {_SECRET}")


@pytest.mark.parametrize(
    "text",
    [
        "\x1b[31mERROR\x1b[0m: hf_transfer 0.1.8 needs Python >=3.9",
        "\x1b[1mghp\x1b[0m is not a package",
        "ERROR: Could not find a version that satisfies the requirement torch==2.9 "
        "(from versions: none)\nWARNING: Retrying after connection broken by "
        "'NewConnectionError': /simple/torch/ on https://pypi.internal:8443",
        "Author: a@b.c\nAuthor-email: Dev Team <dev@example.org>",
        "CUDA driver version is insufficient for CUDA runtime version",
        "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 550.54",
        "/opt/conda/envs/my_env-1/lib/python3.11/site-packages/hf_transfer/__init__.py",
        "[b'https://pypi.internal:8443',\n b'x@y']",
        "b'abc'\n b'def@g'",
    ],
)
def test_common_text_stays_whole(text: str) -> None:
    """Coloured output, pip's retries, author lines, driver messages, paths and bytes lists
    hold no secret and stay as they were."""
    assert redact(text) == text
    assert redact_urls(text) == text


_SHAPES: dict[str, Callable[[int], str]] = {
    "colour runs in a body": lambda n: "ghp_" + "A\x1b[1;" * (n // 5),
    "unended colours in a prefix": lambda n: ("g\x1b[" + "1" * 50) * (n // 53),
    "c1 and zero-width in a body": lambda n: "hf_" + "a\x85\u200b" * (n // 3),
    "bytes literals": lambda n: "://u:a" + "'\n b'" * (n // 5),
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_the_new_glue_reads_a_long_hostile_text_once(shape: str) -> None:
    """8x the text takes about 8x the time; 400,000 characters are read as the short text is."""
    make = _SHAPES[shape]
    assert redact(make(400_000)) == make(400_000)
    assert growth(redact, make, small=25_000, times=8) < LINEAR_BOUND


@pytest.mark.parametrize(
    "value",
    [
        "NVML  library version: 580.178",
        "NVML\tlibrary\tversion:\t580.178",
        "NVML_library_version: 580.178",
        "nvml-library-version: 580.178",
        "NVML library\nversion: 580.178",
    ],
)
def test_the_nvml_library_line_respaced_is_never_offered_as_the_driver(value: str) -> None:
    """Before: "write 580.178 alone" (attack 220 read the line with single spaces only)."""
    with pytest.raises(CudaError) as exact:
        DriverVersion.parse(value, where="[cuda].driver-floor")
    hint = exact.value.hint or ""
    assert "write 580.178" not in hint and "the library's" in hint


_USER_SHAPES: dict[str, Callable[[int], str]] = {
    "header-like words without an '@'": lambda n: "x-api-key-" * (n // 10),
    "controls after a mark": lambda n: "!\x00" * (n // 2),
    "token names after controls": lambda n: "!\x00token" * (n // 7),
}
_QUOTE_SHAPES: dict[str, Callable[[int], str]] = {
    "escaped double quotes": lambda n: '"\\' * (n // 2),
    "escaped single quotes": lambda n: "'\\" * (n // 2),
}


@pytest.mark.parametrize("shape", sorted(_QUOTE_SHAPES))
def test_an_unclosed_quote_is_read_once(shape: str) -> None:
    """Before: ``shown`` (every error, warning and note) restarted its quoted-value scan at
    each escaped quote: 100,000 characters of ``"\\`` took 32 s (8x the text, 60x the
    time). Now linear; a long quoted value is still cut."""
    make = _QUOTE_SHAPES[shape]
    assert growth(shown, make, small=12_500, times=8) < LINEAR_BOUND
    assert shown(f"bad value '{'a' * 300}'") == f"bad value '{'a' * 199}… (300 characters)"


@pytest.mark.parametrize("shape", sorted(_USER_SHAPES))
def test_a_bare_credential_user_is_looked_for_once(shape: str) -> None:
    """Before: ``without_secrets`` (every message shown, ``printable``) read a run holding no
    '@' back and forth from each start: 80,000 characters of ``!\\x00`` took 97 s, 200,000
    of ``x-api-key-`` 22 s (quadratic: 8x the text, 65x the time). Now linear."""
    make = _USER_SHAPES[shape]
    assert without_secrets(make(200_000)) == make(200_000)
    assert growth(without_secrets, make, small=25_000, times=8) < LINEAR_BOUND


def test_a_short_credential_user_is_still_hidden() -> None:
    """The users the rule is for stay hidden; a fixed user and an address stay shown."""
    text = "__token__@pypi.org api-key@h x\x00my_token@h me@example.com git@github.com"
    assert without_secrets(text) == "***@pypi.org ***@h ***@h me@example.com git@github.com"


# Driver readings (attack 220): a release file left behind on a machine that is no Jetson.
_FIXTURES = Path(__file__).parents[2] / "fixtures" / "host"
_L4T_R36 = (_FIXTURES / "nv_tegra_release_r36.txt").read_text()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A CUDA 12.6 project (floor 560.28.03), locked by the real CLI."""
    return locked_cuda_project(tmp_path_factory.mktemp("a222"), "12.6", "560.28.03")


def _dgpu_node(machine: str) -> FakeHost:
    """An x86_64 (or aarch64) node whose loaded module is 550.54.14 under three dGPUs, with a
    stale /etc/nv_tegra_release (an image built from an L4T base, a copied /etc)."""
    files = {
        host.TEGRA_RELEASE: _L4T_R36,
        host.SYS_MODULE_VERSION: (_FIXTURES / "sys_module_nvidia_version.txt").read_text(),
    }
    outputs = {
        host.SMI_QUERY_ARGV: (_FIXTURES / "smi_query_noheader.csv").read_text(),
        host.UNAME_ARGV: f"{machine}\n",
    }
    return with_glibc(files, outputs)


def test_a_stale_tegra_release_on_an_x86_64_node_does_not_stop_the_judgement(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: exit 3 "cannot judge: driver 550.54.14 is Jetson Linux R36.4.3's" on an x86_64
    node (Jetson Linux is aarch64 only) whose module, below the lock's floor, it read. Now:
    exit 1, the driver judged too old; the file is named as ignored."""
    monkeypatch.setattr(host, "RealHost", lambda: _dgpu_node("x86_64"))
    code, out, err = run_in_process(["verify", "--host"], *project)
    assert code == 1, out + err
    assert "cannot judge" not in out + err and "550.54.14" in out + err
    facts = host.detect(_dgpu_node("x86_64"))
    assert facts.driver == "550.54.14" and facts.unjudged is None
    (said,) = [probe for probe in facts.probes if probe.source == host.TEGRA_RELEASE]
    assert not said.ok and "x86_64" in said.detail


def test_a_tegra_release_on_aarch64_is_still_a_jetson() -> None:
    """IGX and Jetson boards are aarch64: there the file still says Jetson Linux."""
    facts = host.detect(_dgpu_node("aarch64"))
    assert facts.driver is None and facts.unjudged is not None
    assert "Jetson Linux R36.4.3" in facts.unjudged.message
