"""Invariant 5's output side: ``redaction.redact`` is the one redactor, and every output uses it."""

from __future__ import annotations

import io
import json
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.errors import MlenvError
from mlenv.redaction import redact
from mlenv.report import HumanReporter, JsonReporter, QuietReporter

SECRET = "s3cr3tVALUE"


@pytest.mark.parametrize(
    "text",
    [
        f"https://user:{SECRET}@index.example/simple",
        f"https://{SECRET}@index.example/simple",
        f"https://u:p@ss{SECRET}@index.example/simple",
        f"https://files.example/a.whl?X-Amz-Signature={SECRET}&X-Amz-Date=1",
        f"https://files.example/a.whl?X-Amz-Credential={SECRET}",
        f"https://files.example/a.whl?x=1&token={SECRET}",
        f"https://files.example/a.whl?access_token={SECRET}#frag",
        f"https://blob.example/a?sv=2020&sig={SECRET}",
        f"https://storage.example/a?X-Goog-Signature={SECRET}",
        f"https://conda.anaconda.org/t/{SECRET}/conda-forge",
        f"Authorization: Bearer {SECRET}",
        f"Authorization: Basic {SECRET}==",
        f"GET https://r.example/v2/x/blobs/uploads/1?_state={SECRET}",
    ],
)
def test_redact_masks_every_secret_shape(text: str) -> None:
    """Protects invariant 5: userinfo, secret query parameters, path tokens, header values."""
    assert SECRET not in redact(text)
    assert "***" in redact(text)


def test_redact_keeps_what_is_not_secret() -> None:
    """Protects usefulness: hosts, paths and harmless parameters stay readable."""
    text = "https://index.example/simple/demo/?page=2 failed: HTTP 404"
    assert redact(text) == text


@given(secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=8))
def test_hypothesis_userinfo_and_token_never_survive(secret: str) -> None:
    """Protects invariant 5 over arbitrary token spellings."""
    for text in (
        f"error: https://ci:{secret}@h.example/simple/x/ said 401",
        f"https://h.example/a.whl?token={secret}",
    ):
        assert secret not in redact(text)


def test_every_reporter_and_error_rendering_redacts() -> None:
    """Protects invariant 5 in outputs: human, quiet and JSON logs, and error text."""
    url = f"https://ci:{SECRET}@index.example/simple?token={SECRET}"
    for make in (HumanReporter, QuietReporter, JsonReporter):
        stream = io.StringIO()
        reporter = make(stream)
        reporter.info(f"reading {url}")
        reporter.warning(f"slow {url}")
        with reporter.task(f"fetching {url}", 1):
            pass
        assert SECRET not in stream.getvalue(), make
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all(SECRET not in json.dumps(line) for line in lines)
    error = MlenvError(f"cannot read {url}", where=url, hint=f"check {url}")
    assert SECRET not in str(error)


# The one-character glue between a token's pieces: C0 and C1 controls, DEL, NBSP, soft
# hyphen, every format character (zero-width, joining, direction, tag), the line and
# paragraph separators, the variation selectors and the filler marks (redaction_tokens reads
# those past Latin-1 as controls first, judged by category).
GLUE_CHARACTERS = {
    *range(0x20), *range(0x7F, 0xA1), 0xAD, 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0,
    *range(0x180B, 0x180E), 0x180F, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0),
    *(
        point
        for point in range(0x110000)
        if unicodedata.category(chr(point)) in ("Cf", "Zl", "Zp")
    ),
}  # fmt: skip


def test_the_token_glue_takes_exactly_the_controls_and_invisible_marks() -> None:
    """Guards redaction_tokens' glue spelling: every code point is glue (joined first, or a
    joint the token pattern reads itself) exactly when it is a control or one of the
    invisible marks. Between them a ``!``, which ends no escape sequence (a letter after
    C1's CSI, ``\x9b``, is its final byte: ``\x9bm`` is one sequence)."""
    from mlenv.redaction_tokens import _JOINTS, _readings

    every = "!".join(map(chr, range(0x110000)))
    runs = _readings(every)
    assert all(end == start + 1 for start, end, _ in runs)
    joints = re.compile(_JOINTS)
    taken = {start // 2 for start, _, _ in runs} | {
        point for point in range(0x80) if joints.fullmatch(chr(point))
    }
    assert taken == GLUE_CHARACTERS
