"""Adversary pass 40: secrets in shapes the redactor passed over, and conda specs spaced as
rattler reads them (docs/security.md, invariant 5; docs/cuda.md).

Each secret below was shown whole before this pass: a command line's ``--password=X``, a
header after curl's ``--header=``, a lowercase ``bearer`` value, a URL escaped inside JSON
(``https:\\/\\/user:pw@host``), a scheme-relative ``//user:pw@host``, a header whose value is on
the next line (YAML), ``Auth-Key``/``License-Key``/``X-JFrog-Art-Api`` headers and the
``pw``/``pwd``/``pass``/``passphrase`` query parameters. One place hides each:
``mlenv.redaction.redact`` (``redact_urls`` for the URL shapes, so a bundle's manifest and the
inputs hash see them hidden too).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlenv import uptodate
from mlenv.redaction import redact, redact_urls
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.rattler_specs import rattler_reads

pytestmark = pytest.mark.hostile

SECRET = "S3CRETvalue"

SHOWN_BEFORE = [
    f"docker login --password={SECRET} registry.corp",
    f"docker login --password {SECRET} registry.corp",
    f"twine upload --password '{SECRET}' dist/*",
    f'mlenv push --registry-password="{SECRET}" x',
    f"curl --token={SECRET}",
    f"curl --api-key {SECRET} https://h",
    f"curl --header=Authorization: token {SECRET}",
    f"curl --header='Authorization: token {SECRET}'",
    f"Authorization: bearer {SECRET}",
    f"got bearer {SECRET} back",
    f"BEARER {SECRET}",
    f"BASIC {SECRET}",
    f'{{"index": "https:\\/\\/user:{SECRET}@pypi.corp\\/simple"}}',
    f'{{"index": "https:\\/\\/{SECRET}@pypi.corp\\/simple"}}',
    f"//user:{SECRET}@pypi.corp/simple",
    f"index-url = //user:{SECRET}@pypi.corp/simple",
    f'url="//{SECRET}@pypi.corp/simple"',
    f"see //user:pa/{SECRET}@pypi.corp/simple",
    f"headers:\n  Authorization:\n    token {SECRET}\n",
    f"X-Api-Key:\r\n\t{SECRET}",
    f"Auth-Key: {SECRET}",
    f"License-Key: {SECRET}",
    f"license-key: {SECRET}",
    f"X-JFrog-Art-Api: {SECRET}",
    f"{{'X-JFrog-Art-Api': '{SECRET}'}}",
    f"https://h/simple?pw={SECRET}",
    f"https://h/simple?pwd={SECRET}",
    f"https://h/simple?pass={SECRET}",
    f"https://h/simple?db_pass={SECRET}",
    f"https://h/simple?passphrase={SECRET}",
    f"https://h/simple?key_passphrase={SECRET}&x=1",
]


@pytest.mark.parametrize("text", SHOWN_BEFORE)
def test_a_secret_in_a_shape_shown_before_is_hidden(text: str) -> None:
    shown = redact(text)
    assert SECRET not in shown and "***" in shown, shown


@pytest.mark.parametrize("text", [t for t in SHOWN_BEFORE if f"{SECRET}@" in t or "?" in t])
def test_a_url_shape_is_hidden_where_bytes_matter_too(text: str) -> None:
    """``redact_urls`` (a bundle's manifest, the inputs hash) hides every URL shape above."""
    assert SECRET not in redact_urls(text)


@pytest.mark.parametrize("text", SHOWN_BEFORE)
def test_the_fast_path_redacts_every_shape(text: str) -> None:
    """``uptodate._say`` skips the redactor for text without a ``REDACTABLE`` mark: each shape
    holds one, so the no-op's lines hide it as the full CLI's do."""
    assert any(mark in text for mark in uptodate.REDACTABLE)


KEPT = [
    "docker login --password-stdin < token.txt",
    "mlenv lock --token-file /run/secrets/t",
    "pip install --no-token x",
    "--password --verbose",
    "a basic check of the lock",
    "openai-api: no version satisfies >=2",
    "google-auth: no version satisfies ==9",
    "https://host:8080/a@b",
    "lib//a@b",
    "https://h/simple?bypass=1&compass=2&pws=3",
    "https://pypi.corp/simple",
    "cuda-version >=12.4",
]


@pytest.mark.parametrize("text", KEPT)
def test_what_holds_no_secret_is_shown_as_it_is(text: str) -> None:
    assert redact(text) == text


OPTION_NAMES = ["password", "token", "api-key", "registry-password", "auth-token", "secret",
                "PASSWORD", "access_token", "x-api-key"]  # fmt: skip


@settings(max_examples=300)
@given(
    st.sampled_from(OPTION_NAMES),
    st.sampled_from(["=", " ", "\t", "  "]),
    st.sampled_from(["", "'", '"']),
    st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="'\"-"),
            min_size=1, max_size=20),
    st.sampled_from(["", " tail", "\nnext"]),
)  # fmt: skip
def test_hypothesis_an_option_named_as_a_credential_hides_its_value(
    name: str, separator: str, quote: str, value: str, tail: str
) -> None:
    # a bare "\\" before a line break is a continuation: the value is on the next line
    # (``test_attack41_hostile``'s continued options)
    assume(not (value == "\\" and not quote and separator != "=" and tail.startswith("\n")))
    text = f"cmd --{name}{separator}{quote}{value}{quote}{tail}"
    shown = redact(text)
    assert shown == f"cmd --{name}{separator}{quote}***{quote}{tail}"


@settings(max_examples=300)
@given(
    st.sampled_from(["Authorization", "X-Api-Key", "Private-Token", "Cookie", "x-jfrog-art-api"]),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([" ", "  ", "\t", "    "]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30),
)
def test_hypothesis_a_header_value_on_the_next_line_is_hidden(
    name: str, newline: str, indent: str, value: str
) -> None:
    text = f"{name}:{newline}{indent}{value}{newline}next: 1"
    assert redact(text) == f"{name}:{newline}{indent}***{newline}next: 1"


@settings(max_examples=300)
@given(
    st.sampled_from(["https", "http", "oci", "git+https"]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#@\\&;"),
            min_size=1, max_size=20),
    st.sampled_from(["", "{", '"', "= ", "("]),
)  # fmt: skip
def test_hypothesis_userinfo_is_hidden_behind_every_separator(
    scheme: str, userinfo: str, before: str
) -> None:
    for url in (f"{scheme}:\\/\\/{userinfo}@host\\/simple", f"//{userinfo}@host/simple"):
        assert redact_urls(before + url) == before + url.replace(f"{userinfo}@", "***@", 1)


# ---------------------------------------------------------------------------------------------
# A conda spec with blanks after its operators (``cuda-version >= 12.4``): rattler drops them
# (``>=12.4``), mlenv read ``>=`` as the version and ``12.4`` as the build, and refused the
# record as unreadable.

SPACED_SPECS = [
    "cuda-version >= 12.4",
    "cuda-version >= 12.4, < 13",
    "cuda-version >=12.4 , <13",
    "cuda-version >= 12.4 | == 11.8",
    "cuda-version ~= 12.4",
    "cuda-version >=  12.4 h0_0",
]


@pytest.fixture(scope="module")
def rattler_versions() -> dict[str, str]:
    return {spec: read["version"] for spec, read in rattler_reads(SPACED_SPECS).items()}


@pytest.mark.parametrize("spec", SPACED_SPECS)
def test_a_spaced_cuda_spec_is_read_as_rattler_reads_it(
    spec: str, rattler_versions: dict[str, str]
) -> None:
    """Held by ``conda.records.match_spec_text``: the version mlenv judges is rattler's."""
    from mlenv.conda.records import match_spec_text
    from mlenv.cuda.tags import extract_conda

    assert match_spec_text(spec).split()[1] == rattler_versions[spec]
    need = extract_conda("pkg", "1.0", "h0", [spec], [])
    assert need is not None and str(need.cuda).startswith(("12.4", "11.8"))


# ---------------------------------------------------------------------------------------------
# Every new shape is scanned once: 4x the text takes about 4x the time (a rescan per start would
# be 16x).

GROWTH_SHAPES: dict[str, Callable[[int], str]] = {
    "dashes": lambda n: "-" * n,
    "option-runs": lambda n: "--a" * (n // 3),
    "options-without-values": lambda n: "--password " * (n // 11),
    "relative-no-at": lambda n: " //" + "a" * n,
    "relative-runs": lambda n: " //a" * (n // 4),
    "relative-raw": lambda n: (" //u:p?" + "x" * 40) * (n // 47),
    "escaped-runs": lambda n: "a:\\/\\/" * (n // 6),
    "header-lines": lambda n: "Authorization:\n" * (n // 15),
    "header-blank-lines": lambda n: "Authorization:\n " + "\n " * (n // 2),
    "pass-params": lambda n: "?pass=" * (n // 6),
    "user-option-no-colon": lambda n: "-u " + "a" * n,
    "user-options": lambda n: " -u a" * (n // 5),
}


@pytest.mark.parametrize("make", GROWTH_SHAPES.values(), ids=GROWTH_SHAPES.keys())
def test_the_new_shapes_are_scanned_once(make: Callable[[int], str]) -> None:
    assert growth(redact, make) < LINEAR_BOUND


@pytest.mark.parametrize(
    "text", ['summary = "bearer token helper"', "BEARER of news", "BASIC LINEAR ALGEBRA"]
)
def test_data_keeps_an_authorization_word_only_text_shown_hides(text: str) -> None:
    """Held by ``redaction.redact_urls``: a manifest's text (a bundle carries it, the inputs
    hash counts its locations) keeps ``bearer``/``BEARER``/``BASIC`` and what follows; only
    text shown hides the value after them (``redact``)."""
    assert redact_urls(text) == text
    assert redact(text) != text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"curl -u user:{SECRET} https://h", "curl -u user:*** https://h"),
        (f"curl -uuser:{SECRET} x", "curl -uuser:*** x"),
        (f"curl --user=user:{SECRET} x", "curl --user=user:*** x"),
        (f'curl --proxy-user "u:{SECRET}" x', 'curl --proxy-user "u:***" x'),
        ("pip install -U numpy==1.0", "pip install -U numpy==1.0"),
        ("pip install -U https://host/x.whl", "pip install -U https://host/x.whl"),
        ("curl -u user https://h:8080/x", "curl -u user https://h:8080/x"),
    ],
)
def test_curl_user_option_hides_its_password(text: str, shown: str) -> None:
    """Held by ``redaction._secret_options`` (``_USER_OPTION``): curl's ``-u user:password``
    was shown whole in a CI log's echoed command."""
    assert redact(text) == shown
    assert any(mark in text for mark in uptodate.REDACTABLE)


@pytest.mark.parametrize(
    "text",
    [
        "Q1QQ0Q????://:&??/t/@S3CRET",
        "????https://:&??/t/@S3CRET",
        "https://user:pa/t/ss@S3CRET/channel",
        " //u:p/t/x@S3CRET/y",
    ],
)
def test_a_token_segment_a_raw_password_ends_in_stays_hidden(text: str) -> None:
    """Held by ``redaction._userinfo``: the rest of an anaconda.org ``/t/<token>`` segment a
    raw password ends in is hidden, as ``_PATH_TOKEN`` (and the old redactor) read it before
    userinfo took the segment's start; Hypothesis found ``https://:&??/t/@Q0Q`` and
    ``://:&??/t/@Q2Q`` showing what the old redactor hid."""
    assert "S3CRET" not in redact(text)


@pytest.mark.parametrize(
    "spec",
    [
        "cuda-version (>=12.4|<11),<13",
        "cuda-version (>=12.4,<13)|(<11)",
        "__cuda (>=12.4|<11),<13",
        "cudatoolkit (>=11.8|<10),<12",
        "pytorch-cuda (>=12.1|<11),<13",
    ],
)
@pytest.mark.parametrize("field", ["depends", "constrains"])
def test_a_cuda_spec_grouped_past_reading_is_refused_not_passed(spec: str, field: str) -> None:
    """Held by the conda-spec rows of ``data/cuda.json`` (read by ``cuda.tags._first``): a
    version opening with ``(`` matched no row, so a record needing CUDA 12.4 through a group
    mixing ``,`` and ``|`` needed no CUDA as far as ``lock`` and ``verify`` could tell."""
    from mlenv.cuda.tags import extract_conda
    from mlenv.cuda.versions import CudaError

    depends, constrains = ([spec], []) if field == "depends" else ([], [spec])
    with pytest.raises(CudaError, match="cannot be read"):
        extract_conda("pkg", "1.0", "h0", depends, constrains)
