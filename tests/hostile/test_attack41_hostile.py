"""Adversary pass 41: secrets pass 40's new shapes still showed (docs/security.md, invariant 2).

A command-line option spelled in lowercase words (``--github-token X``, ``--hf-token=X``,
``--db-password X``) was judged as a project's name (``eks-token: ...``) and shown; so was a
credential option in a Python argv list (``subprocess.CalledProcessError``'s ``Command
'['twine', '--password', 'X']'``), after a line continuation (``--password \\`` then the value
on the next line), gpg's ``--passphrase X`` and a ``passphrase:`` line, and a YAML header value
in a block scalar (``Authorization: |`` then the value), and a scheme-relative URL in
Markdown's backticks (```//user:pw@host```). The fast path's ``REDACTABLE`` marks
missed a header pair (``('X-Api-Key', 'X')``), which holds no ``:`` or ``=``. One place hides
each: ``mlenv.redaction.redact`` (``mlenv.uptodate.REDACTABLE`` for the marks).

A conda spec whose version rattler reads inside parentheses (``cuda-version (>=12.4,<13)``)
gave mlenv no version, so the record's CUDA need was passed over; ``match_spec_text`` drops
parentheses that group nothing, as rattler does.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import uptodate
from mlenv.cuda.versions import CudaError
from mlenv.redaction import redact, redact_urls
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.old_redact import reference_redact
from tests.support.rattler_specs import rattler_reads

pytestmark = pytest.mark.hostile

SECRET = "S3CRETvalue"

LOWERCASE_OPTIONS = [
    f"gh auth --github-token {SECRET}",
    f"huggingface-cli login --hf-token={SECRET}",
    f"uv publish --pypi-token {SECRET} dist/*",
    f"psql-setup --db-password '{SECRET}'",
    f"bot --bot-token {SECRET}",
    f"npm-publish --npm-auth-token={SECRET}",
]


@pytest.mark.parametrize("text", LOWERCASE_OPTIONS)
def test_a_lowercase_credential_option_hides_its_value(text: str) -> None:
    """Held by ``redaction._secret_options`` (``_credential_name``): shown whole before, the
    option's name read as a project's (``github-token``: ``github`` is no header word)."""
    shown = redact(text)
    assert SECRET not in shown and "***" in shown, shown
    assert reference_redact(text) == shown


ARGV_LISTS = [
    f"Command '['twine', 'upload', '--password', '{SECRET}', 'dist']' returned non-zero",
    f'["docker", "login", "--token","{SECRET}"]',
    f"[b'--api-key', b'{SECRET}']",
    f"repr: \\'--password\\', \\'{SECRET}\\'",
]


@pytest.mark.parametrize("text", ARGV_LISTS)
def test_a_credential_option_in_an_argv_list_hides_its_value(text: str) -> None:
    """Held by ``redaction._OPTION`` (its quoted-then-comma separator): a ``CalledProcessError``
    or a JSON argv showed the value whole, as only ``=`` or a blank separated it before."""
    shown = redact(text)
    assert SECRET not in shown and "***" in shown, shown
    assert reference_redact(text) == shown


CONTINUED_AND_PASSPHRASE = [
    f"docker login \\\n  --password \\\n  {SECRET} \\\n  registry.corp",
    f"docker login --password \\\r\n\t{SECRET}",
    f"gpg --batch --passphrase {SECRET} --sign",
    f"gpg --passphrase={SECRET}",
    f"passphrase: {SECRET}",
    f"{{'key-passphrase': '{SECRET}'}}",
    f"headers:\n  Authorization: |\n    token {SECRET}\n",
    f"Authorization: >-\r\n  Bearer{SECRET}\r\n",
    f"X-Api-Key: |+\n  {SECRET}",
]


@pytest.mark.parametrize("text", CONTINUED_AND_PASSPHRASE)
def test_a_continued_option_a_passphrase_and_a_block_scalar_are_hidden(text: str) -> None:
    """Held by ``redaction._OPTION`` (a ``\\`` line continuation), ``_SECRET_HEADER`` /
    ``_CREDENTIAL_END`` (``passphrase``) and ``_secret_headers`` (``_BLOCK_SCALAR``): before,
    ``***`` replaced the continuation's ``\\`` or the block scalar's ``|`` and the value on the
    next line was shown; ``--passphrase`` and ``passphrase:`` were shown whole."""
    shown = redact(text)
    assert SECRET not in shown and "***" in shown, shown
    assert reference_redact(text) == shown


def test_a_scheme_relative_url_in_markdown_code_hides_its_userinfo() -> None:
    """Held by ``redaction._SEPARATOR`` (a backtick starts a URL): ```//user:pw@host``` in a
    Markdown message or CI summary was shown whole."""
    text = f"set `//user:{SECRET}@pypi.corp/simple` as the index"
    assert redact_urls(text) == "set `//***@pypi.corp/simple` as the index"
    assert reference_redact(text) == redact(text)


KEPT = [
    "pip install --no-token x",
    "mlenv lock --no-auth-token y",
    "docker login --password-stdin < token.txt",
    "mlenv lock --token-file /run/secrets/t",
    "['docker', 'login', '--password-stdin', 'registry.corp']",
    "['--password', '--verbose']",
    "gpg --passphrase-file key.txt",
    "passphrase-gen: no version satisfies >=2",
    "description: |\n  a summary",
    "google-auth: |\n  2.0",
]


@pytest.mark.parametrize("text", KEPT)
def test_what_holds_no_secret_is_shown_as_it_is(text: str) -> None:
    assert redact(text) == text == reference_redact(text)


def test_the_data_redactor_is_unchanged_by_the_option_rules() -> None:
    """``redact_urls`` (a bundle's manifest, the inputs hash) hides no option or header."""
    manifest = 'args = ["--github-token", "x"]\nnote = "gpg --passphrase y"\n'
    assert redact_urls(manifest) == manifest


@pytest.mark.parametrize(
    "text", [f"('X-Api-Key', '{SECRET}')", f"[(b'authorization', b'{SECRET}')]"]
)
def test_the_fast_path_redacts_a_header_pair(text: str) -> None:
    """Held by ``uptodate.REDACTABLE``: a pair holds no ``:``, ``=``, ``@`` or ``--``, so
    ``uptodate._say`` printed it unredacted (``redact`` hides it)."""
    assert SECRET not in redact(text)
    assert any(mark in text for mark in uptodate.REDACTABLE)


@settings(max_examples=300)
@given(
    st.sampled_from(["github-token", "hf-token", "db-password", "passphrase", "api-key"]),
    st.sampled_from(["'", '"', "b'", "\\'"]),
    st.sampled_from([",", ", ", " ,  "]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="'\"\\-"),
            min_size=1, max_size=20),
)  # fmt: skip
def test_hypothesis_an_argv_pair_hides_its_value(
    name: str, quote: str, comma: str, value: str
) -> None:
    close = quote.removeprefix("b")
    text = f"[{quote}--{name}{close}{comma}{quote}{value}{close}]"
    shown = redact(text)
    assert shown == f"[{quote}--{name}{close}{comma}{quote}***{close}]"
    assert shown == reference_redact(text)


GROWTH_SHAPES: dict[str, Callable[[int], str]] = {
    "continued-blanks": lambda n: "--password " + "\\\n " * (n // 3),
    "continued-runs": lambda n: "--password \\\n" * (n // 14),
    "listed-blanks": lambda n: "'--password'" + " " * n + ",",
    "listed-runs": lambda n: "'--password', " * (n // 14),
    "block-scalar-blanks": lambda n: "Authorization: |" + " " * n,
    "block-scalar-lines": lambda n: "Authorization: |\n" * (n // 17),
    "negated-flags": lambda n: "--no-token " * (n // 11),
    "unclosed-quote": lambda n: "--password='" + "\\" * n,
    "unclosed-quotes": lambda n: '--password="a' * (n // 13),
}


@pytest.mark.parametrize("make", GROWTH_SHAPES.values(), ids=GROWTH_SHAPES.keys())
def test_the_new_shapes_are_scanned_once(make: Callable[[int], str]) -> None:
    assert growth(redact, make) < LINEAR_BOUND


# ---------------------------------------------------------------------------------------------
# A conda spec whose version is in parentheses (``cuda-version (>=12.4,<13)``): rattler reads
# ``>=12.4,<13``; mlenv read no version at all, so the record's CUDA need was passed over.

GROUPED_SPECS = [
    "cuda-version (>=12.4,<13)",
    "cuda-version (>=12.4) h1_0",
    "cuda-version (>=12.4 ,<13) h1_0",
    "cuda-version (>=12.4)|(<11)",
    "cuda-version (12.4.*)",
    "cuda-version (>=12.4|<11),<13",
]


@pytest.fixture(scope="module")
def rattler_versions() -> dict[str, str]:
    return {spec: read["version"] for spec, read in rattler_reads(GROUPED_SPECS).items()}


@pytest.mark.parametrize("spec", GROUPED_SPECS)
def test_a_grouped_cuda_spec_is_read_as_rattler_reads_it(
    spec: str, rattler_versions: dict[str, str]
) -> None:
    """Held by ``conda.records.match_spec_text`` (``_ungrouped``): before, the version kept its
    parentheses, no CUDA pattern read it, and ``extract_conda`` found no CUDA need."""
    from mlenv.conda.records import match_spec_text
    from mlenv.cuda.tags import extract_conda

    assert match_spec_text(spec).split()[1] == rattler_versions[spec]

    def reading(depends: str) -> object:
        """The CUDA the record needs, or "refused": a group mixing ``,`` and ``|`` is one no
        rule reads, refused since pass 43 (it was read as no need, a silent CPU pass)."""
        try:
            need = extract_conda("pkg", "1.0", "h0", [depends], [])
        except CudaError:
            return "refused"
        return need and need.cuda

    need = reading(spec)
    assert need == reading(f"cuda-version {rattler_versions[spec]}")
    if "|" not in spec:
        assert need is not None and str(need).startswith("12.4")
    if "," in spec and "|" in spec:
        assert need == "refused"
