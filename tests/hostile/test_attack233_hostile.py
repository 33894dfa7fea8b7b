"""Attack 233: two tokens back to back with glue inside the second's prefix, and a conda
channel spelled anew between the earlier lock and the relock.

``redaction_tokens._next_head`` looked for the next prefix spelled plainly where the first
body ended: ``ghp_<36>gh\\u200bp_<36>`` (a zero-width space, a line break a URL reader
drops) read the first body on through ``gh<glue>p`` to the ``_`` and showed the second body
whole. The relock byte rule named a conda file by its channel as spelt: the manifest's
``https://mirror.example/chan`` respelt ``HTTPS://Mirror.Example:443/chan`` (the same
server) made every pinned file another file, and other bytes under its name passed.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlenv.conda.records import CondaRecord
from mlenv.echoed import without_secrets
from mlenv.errors import printable
from mlenv.locking_earlier import Artifact, earlier_files, relock_error
from mlenv.redaction import redact
from mlenv.resolver.model import ResolutionError
from tests.support.hidden_secrets import KNOWN_TOKENS, assert_hidden
from tests.support.locks import conda_record
from tests.support.relocks import lock_one

pytestmark = pytest.mark.hostile

_BODY = KNOWN_TOKENS["ghp_"]
_OTHER = "Cd2Ef4Gh6Jk8Lm1Np3Qr5St7Uv9Wx2Yz4Ab6"
_GLUE = ["\u200b", "\n", "\t", "\x1b[0m", "%0A", "\\u200b", "\u00ad"]


def _glued(prefix: str, glue: str) -> str:
    """``prefix`` with ``glue`` after its second character (``gh<glue>p_``)."""
    return prefix[:2] + glue + prefix[2:]


@pytest.mark.parametrize("glue", _GLUE)
@pytest.mark.parametrize("second", ["ghp_", "hf_", "npm_", "github_pat_", "glpat-", "pypi-"])
def test_glue_inside_the_second_prefix_hides_both_bodies(second: str, glue: str) -> None:
    """Before: ``ghp_***gh\\u200bp_Cd2Ef4...`` showed the second body."""
    later = _OTHER if KNOWN_TOKENS[second] == _BODY else KNOWN_TOKENS[second]
    text = f"t ghp_{_BODY}{_glued(second, glue)}{later} end"
    assert_hidden(later, text)
    assert_hidden(_BODY, text)
    assert redact(text) == f"t ghp_***{_glued(second, glue)}*** end"


def test_glue_between_every_letter_of_the_second_prefix_in_a_url_path() -> None:
    text = f"https://h/x/ghp_{_BODY}g\u200bh\u200bp\u200b_{_OTHER}/y"
    assert redact(text) == "https://h/x/ghp_***g\u200bh\u200bp\u200b_***/y"


@pytest.mark.parametrize("shown", [redact, without_secrets, printable])
def test_every_reader_of_secrets_hides_the_glued_second_token(shown: object) -> None:
    text = f"ghp_{_BODY}gh\u200bp_{_OTHER}"
    said = shown(text)  # type: ignore[operator]
    assert _OTHER not in said.replace("\u200b", "") and _BODY not in said


_LOCKED = "https://mirror.example/chan"
_RESPELT = ("HTTPS://Mirror.Example/chan", f"{_LOCKED}/", "https://mirror.example:443/chan")
_UNSAID = ("https://alice:pw@mirror.example/chan", "https://mirror.example/%63han")


@pytest.mark.parametrize("respelt", [*_RESPELT, *_UNSAID])
def test_a_channel_respelt_still_holds_its_files_to_their_bytes(respelt: str) -> None:
    """Before: each of these spellings of the locked channel's server was another channel,
    and the file served with other bytes passed."""
    lock = lock_one("lib<3", {})
    record = conda_record("numpy", "2.1.0", "py312h0", sha256="a" * 64)
    record = replace(record, channel=_LOCKED)
    earlier = lock.with_platforms([replace(lock.platform("linux-64"), conda=(record,))])
    files = earlier_files(earlier, False, frozenset())
    now = replace(record, channel=respelt, sha256="b" * 64)
    assert isinstance(relock_error(files, {}, (), {}, {"linux-64": (now,)}), ResolutionError)


def test_a_directory_and_its_file_uri_are_one_channel() -> None:
    record = conda_record("numpy", channel="/srv/chan")
    assert _source(record) == _source(replace(record, channel="file:///srv/chan/"))


@pytest.mark.parametrize(
    "other",
    [
        "https://mirror.example:8443/chan",
        "http://mirror.example/chan",
        "https://mirror.example/chan2",
    ],
)
def test_another_port_scheme_or_path_is_another_channel(other: str) -> None:
    record = conda_record("numpy", channel="https://mirror.example/chan")
    assert _source(record) != _source(replace(record, channel=other))


def _source(record: CondaRecord) -> str:
    return Artifact.conda("linux-64", record).source
