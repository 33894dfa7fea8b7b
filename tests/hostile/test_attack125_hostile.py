"""Adversary pass 125: each invariant of docs/security.md attacked at its one enforcing
function with Hypothesis, in the shapes an attacker or a typo would use.

Found: a URL whose userinfo follows an http(s) scheme with one, three or more slashes, or
backslashes (``https:///user:pw@host``, ``https:/user:pw@host``, ``https:\\\\user:pw@host``),
which WHATWG parsers (browsers, and every tool built on them) read as
``https://user:pw@host``, was shown whole by ``mlenv.redaction.redact`` (invariant 5): a
manifest's ``index-url`` so typed was echoed, password and all, by ``mlenv lock``.
"""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.redaction import redact, redact_urls
from tests.support.cli import run_in_process
from tests.support.growth import LINEAR_BOUND, growth

SECRET = "S3CRETzq"
PASSWORD = st.text(string.ascii_letters + string.digits + "-_.~!$&'()*+,;=%", max_size=12).map(
    lambda tail: SECRET + tail
)
# What WHATWG's URL parser skips between a special scheme's ':' and its authority.
SLASHES = st.sampled_from(["/", "///", "////", "\\", "\\\\", "/\\", "\\/", "\\\\\\"])
SCHEMES = st.sampled_from(["https", "http", "HTTPS", "Http"])


@settings(max_examples=300)
@given(SCHEMES, SLASHES, PASSWORD, st.sampled_from(["", "/simple", ":8443/x?y=1", "#f"]))
def test_userinfo_after_any_run_of_slashes_is_hidden(
    scheme: str, slashes: str, password: str, tail: str
) -> None:
    url = f"{scheme}:{slashes}user:{password}@h.example{tail}"
    for shown in (redact(f"cannot fetch {url}: refused"), redact_urls(url)):
        assert SECRET not in shown, shown
        assert "h.example" in shown  # the host stays: an index URL's host is in the inputs hash


def test_a_normal_url_is_redacted_as_before() -> None:
    assert redact("https://user:pw@h.example/simple") == "https://***@h.example/simple"
    assert redact_urls("file:/a@b/wheels") == "file:/a@b/wheels"  # a path, not userinfo
    assert redact_urls("git+https:///a@b/x") == "git+https:///a@b/x"  # no special scheme


def test_a_long_run_of_slashes_after_a_scheme_is_redacted_in_linear_time() -> None:
    """Each ``https:\\`` of a hostile text starts a scan: it must end at the next one."""
    for run in ("\\", "/\\"):

        def text(n: int, run: str = run) -> str:
            return ("https:" + run) * n

        assert growth(redact, text, small=1_500) < LINEAR_BOUND


def test_lock_never_prints_a_password_typed_after_three_slashes(tmp_path: Path) -> None:
    for url in ("https:///user:S3CRETzq@h.example/simple", "https:/user:S3CRETzq@h.example/s"):
        (tmp_path / "mlenv.toml").write_text(
            '[environment]\nname = "x"\npython = "3.11"\n'
            f'[pypi]\nindex-url = "{url}"\ndependencies = ["numpy"]\n'
        )
        code, out, err = run_in_process(["lock"], tmp_path)
        assert code != 0
        assert SECRET not in out + err, err
        assert "h.example" in err
