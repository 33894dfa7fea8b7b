"""Attack pass 43: credentials the redactor showed whole (docs/security.md, invariant 5). A short
``-p`` password (``mysql -pX``, ``docker login -u u -p X``), ``--pass X``, ``--password:X`` and
a Windows ``/password:X``; a URL whose ``://`` is double-escaped (``:\\\\/\\\\/``) or
percent-encoded (``:%2F%2F``, ``%3A%2F%2F...%40``); a scheme-relative ``//user:pw@`` after a
shell's ``|`` or ``;``; ``pass:``, ``passcode`` and ``pin`` keys and parameters; ``DB_PASS`` /
``MYSQL_PWD``; a netrc entry's password; tokens named by their prefix (``ghp_``, ``hf_``,
``glpat-``, ``pypi-Ag...``). Each test names what it protects and fails if its fix is undone;
``tests/support/old_redact.reference_redact`` mirrors every rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import uptodate
from mlenv.redaction import redact, redact_urls
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.old_redact import reference_redact

pytestmark = pytest.mark.hostile

SECRET = "S3CRETvalue"


def _hidden(text: str) -> str:
    """``redact``'s text, checked: the secret gone, ``***`` in its place, the reference agreeing,
    and the fast path (``uptodate.REDACTABLE``) handing the text to the redactor."""
    shown = redact(text)
    assert SECRET not in shown and "***" in shown, (text, shown)
    assert reference_redact(text) == shown, text
    assert any(mark in text for mark in uptodate.REDACTABLE), text
    return shown


SHORT_OPTIONS = [
    f"mysql -u root -p {SECRET} shop",
    f"mysql -uroot -p{SECRET}",
    f"mysqldump -p{SECRET} shop > dump.sql",
    f"mariadb -h db -p{SECRET}",
    f"docker login -u bot -p {SECRET} registry.corp",
    f"twine upload -u __token__ -p {SECRET} dist/*",
    f"sshpass -p {SECRET} ssh host",
    f"Command '['mysql', '-u', 'root', '-p', '{SECRET}']' returned non-zero exit status 1",
    f'["docker", "login", "--username", "bot", "-p", "{SECRET}"]',
    f"mysql -p'{SECRET}'",
    f'MYSQL -p"{SECRET}"',
    f"mysql -u root -p '{SECRET}'",
    f"tool --pass {SECRET}",
    f"tool --db-pass={SECRET}",
    f"tool --password:{SECRET}",
    f"tool --token:'{SECRET}'",
    f"sqlcmd.exe /password:{SECRET} /user:sa",
    f'msdeploy "/password:{SECRET}"',
]


@pytest.mark.parametrize("text", SHORT_OPTIONS)
def test_a_short_or_colon_joined_password_option_is_hidden(text: str) -> None:
    """Held by ``redaction_lines._SHORT_PASSWORD`` (a ``-p`` on a credential-bearing command's
    line), ``redaction._credential_name`` (``pass``) and ``redaction._OPTION`` (``:`` joins a
    value; ``/name:``): each was shown whole."""
    _hidden(text)


KEPT = [
    "pip install -U pkg",
    "python -m pip install -U tokenizers",
    "docker run -p 8080:80 image",
    "docker run -u 1000 -p 127.0.0.1:8080:80/tcp image",
    "psql -h db -U admin -p 5432 shop",
    "ssh -p 2222 host",
    "mkdir -p /tmp/x && tar -p -xf a.tar",
    "mysql -u root -p",
    "['mysql', '-u', 'root', '-p', '--verbose']",
    "docker run -u 1000 -p '8080:80' image",
    "conda create -p ./env python=3.11",
    "pip install hf_transfer npm_config tokenizers tiktoken",
    "numpy>=1.26,<2; python_version >= '3.10'",
    "bypass: x\ncompass: y\nspin: 3\npinned: numpy==1.26",
    "login failed: password rejected",
    "password policy",
    "cat a.txt | grep b; echo c",
    "https://host:8080/a@b",
    "ghp_short hf_short glpat-short",
    "see /usr/lib:/opt/lib",
]


@pytest.mark.parametrize("text", KEPT)
def test_what_holds_no_secret_is_shown_as_it_is(text: str) -> None:
    assert redact(text) == text == reference_redact(text)
    assert redact_urls(text) == text


ENCODED_URLS = [
    (f"https%3A%2F%2Fuser%3A{SECRET}%40pypi.corp%2Fs", "https%3A%2F%2F***%40pypi.corp%2Fs"),
    (f"next=https%3a%2f%2fu%3a{SECRET}%40h", "next=https%3a%2f%2f***%40h"),
    (f"https:%2F%2Fuser:{SECRET}@pypi.corp/simple", "https:%2F%2F***@pypi.corp/simple"),
    (f"https:\\\\/\\\\/user:{SECRET}@pypi.corp", "https:\\\\/\\\\/***@pypi.corp"),
    (f'{{"e": "{{\\"u\\": \\"https:\\\\/\\\\/u:{SECRET}@h\\"}}"}}',
     '{"e": "{\\"u\\": \\"https:\\\\/\\\\/***@h\\"}"}'),
    (f"https%3A//user:{SECRET}@pypi.corp", "https%3A//***@pypi.corp"),
    (f"https:%2f/user:{SECRET}@pypi.corp", "https:%2f/***@pypi.corp"),
    (f"https%3A%2F%2Fuser%3A{SECRET}@pypi.corp", "https%3A%2F%2F***@pypi.corp"),
    (f"cat x|//user:{SECRET}@pypi.corp/simple", "cat x|//***@pypi.corp/simple"),
    (f"true;//user:{SECRET}@pypi.corp/simple", "true;//***@pypi.corp/simple"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "shown"), ENCODED_URLS)
@pytest.mark.parametrize("redactor", [redact, redact_urls], ids=["redact", "redact_urls"])
def test_an_escaped_or_encoded_or_piped_url_hides_its_userinfo(
    redactor: Callable[[str], str], text: str, shown: str
) -> None:
    """Held by ``redaction._SEPARATOR`` (``:\\\\/\\\\/``, ``:%2F%2F``, a ``|`` or ``;`` before
    ``//``) and ``redaction._ENCODED_USERINFO``; the host and every other byte stay."""
    assert redactor(text) == shown
    _hidden(text)


KEYS = [
    f"pass: {SECRET}",
    f"  pass: '{SECRET}'",
    f"passcode: {SECRET}",
    f"pin: {SECRET}",
    f'{{"passcode": "{SECRET}"}}',
    f"DB_PASS={SECRET}",
    f"MYSQL_PWD={SECRET}",
    f"REDIS_PASS='{SECRET}'",
    f"authorization: basic {SECRET}",
    f'{{"authorization": "basic {SECRET}"}}',
    f"https://h/x?passcode={SECRET}&a=1",
    f"https://h/x?pin={SECRET}",
    f"https://h/x?user_pin={SECRET}#f",
    f"https://h/x#PassCode={SECRET}",
]


@pytest.mark.parametrize("text", KEYS)
def test_pass_passcode_and_pin_keys_are_hidden(text: str) -> None:
    """Held by ``redaction._SECRET_HEADER`` / ``_CREDENTIAL_END`` (``pass``, ``passcode``,
    ``pin``, ``pwd`` after a separator) and ``_SECRET_NAME`` (the parameters)."""
    _hidden(text)


def test_a_secret_parameter_is_hidden_in_data_too() -> None:
    assert redact_urls(f"https://h/x?pin={SECRET}&v=1") == "https://h/x?pin=***&v=1"


MORE = [
    f"https://h/login?next=https%3A%2F%2Fh%2Fx%3Ftoken%3D{SECRET}",
    f"redirect=%2Fx%3Faccess_token%3D{SECRET}%26a%3D1",
    f"x%3fpage%3d2%26sig%3d{SECRET}%23f",
    f"KAGGLE_KEY={SECRET}",
    f"export WANDB_KEY='{SECRET}'",
    f"docker run --env=GITHUB_TOKEN={SECRET} image",
    f"docker build --build-arg=HF_TOKEN={SECRET} .",
]


@pytest.mark.parametrize("text", MORE)
def test_an_encoded_parameter_an_env_key_and_an_env_option_are_hidden(text: str) -> None:
    """Held by ``redaction._ENCODED_PARAM`` (a parameter of a URL encoded inside another's),
    ``redaction._ENV_KEY`` (an uppercase ``..._KEY``) and ``redaction._HEADER_NAME`` (a name
    after ``--env=`` or ``--build-arg=``): each was shown whole."""
    _hidden(text)


@pytest.mark.parametrize(
    "text", ["ssh-key=1.0", "SSH_KEY_PATH=/x", "%3Fq%3Dtorch%26page%3D2", "--env=PATH=/usr/bin"]
)
def test_a_key_named_project_and_a_plain_encoded_query_stay(text: str) -> None:
    assert redact(text) == text == reference_redact(text)


NETRC = [
    f"machine pypi.corp login bot password {SECRET}",
    f"default login bot password {SECRET}",
    f"machine pypi.corp\n  login bot\n  password {SECRET}\n",
]


@pytest.mark.parametrize("text", NETRC)
def test_a_netrc_password_is_hidden(text: str) -> None:
    """Held by ``redaction_lines._NETRC`` and ``_NETRC_LINE``: a dumped netrc was shown."""
    _hidden(text)


TOKENS = [
    "ghp_" + "a1B2" * 9,
    "github_pat_" + "11ABC_" * 8,
    "glpat-" + "x_Y-" * 5,
    "hf_" + "AbCd" * 9,
    "pypi-AgEIcHlwaS5vcmc" + "Q-_z" * 12,
    "npm_" + "Zz09" * 9,
]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("shape", ["{}", "HF_HUB: {}", "https://h/{}/simple", "run with {} now"])
def test_a_token_named_by_its_prefix_is_hidden(token: str, shape: str) -> None:
    """Held by ``redaction_lines.KNOWN_TOKEN`` (applied by ``redact_urls``): a bare token, or
    one in a URL's path, was shown whole; its prefix stays to say what was hidden."""
    text = shape.format(token)
    for shown in (redact(text), redact_urls(text)):
        assert token not in shown and token[:3] in shown, shown
    assert reference_redact(text) == redact(text)
    assert any(mark in text for mark in uptodate.REDACTABLE)


WHEEL_NAMES = [
    "hf_transfer_extended_acceleration_kit-1.0-py3-none-any.whl",
    "npm_packaging_helpers_for_python_builds-2.0.tar.gz",
    "my_hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-1.0-py3-none-any.whl",
    "hf_abcdefghijklmnopqrstuvwxyzabcdefgh-1.0-py3-none-any.whl",
    "ghs_" + "abc123" * 6 + "-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
]


@pytest.mark.parametrize("name", WHEEL_NAMES)
def test_a_wheel_file_name_that_starts_like_a_token_stays_whole_in_a_url(name: str) -> None:
    """``redact_urls`` writes a lock's and a bundle's URLs: a project whose long name starts
    with ``hf_`` or ``npm_`` had its file name cut to ``hf_***-1.0-...``, a lock no index
    answers. A token's random body mixes cases and holds no ``_``; a project's name does not."""
    url = f"https://files.example/packages/{name}"
    assert redact_urls(url) == url and redact(url) == url == reference_redact(url)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["ghp_", "gho_", "ghs_", "hf_", "npm_"]),
    st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12), min_size=1),
)
def test_hypothesis_a_lower_case_project_name_after_a_token_prefix_stays_whole(
    prefix: str, words: list[str]
) -> None:
    url = f"https://h/p/{prefix}{'_'.join(words)}-1.0-py3-none-any.whl"
    assert redact_urls(url) == url == reference_redact(url)


VALUE = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="'\"\\-:@/%?#="),
    min_size=8,
    max_size=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["mysql", "twine upload -u u", "docker login --username u", "sshpass"]),
    st.sampled_from(["-p ", "-p", "-p=", "-p  ", "-p'{}'", '-p "{}"']),
    VALUE.filter(lambda v: v.strip("0123456789.[]") != ""),
    st.sampled_from(["", " db", "\nnext line"]),
)
def test_hypothesis_a_short_password_is_hidden(
    command: str, option: str, value: str, after: str
) -> None:
    text = f"{command} {option.format(value) if '{' in option else option + value}{after}"
    shown = redact(text)
    assert value not in shown, shown
    assert shown == reference_redact(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["https", "HTTP", "git+https"]),
    st.sampled_from(
        [":%2F%2F", ":%2f%2f", ":\\\\/\\\\/", "%3A%2F%2F", "%3a%2F%2f", "%3A//", ":/%2F"]
    ),
    VALUE,
    st.sampled_from(["", "see ", "x|", "'", "(", "url="]),
)
def test_hypothesis_an_encoded_url_hides_its_password(
    scheme: str, separator: str, value: str, before: str
) -> None:
    at = "%40" if separator.startswith("%3") and "%2" in separator else "@"
    colon = "%3A" if at == "%40" else ":"
    text = f"{before}{scheme}{separator}user{colon}{value}{at}pypi.corp/simple"
    for shown in (redact(text), redact_urls(text)):
        assert value not in shown and "pypi.corp/simple" in shown, shown
    assert redact(text) == reference_redact(text)
    assert any(mark in text for mark in uptodate.REDACTABLE)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["pass", "passcode", "pin", "db_pass", "DB-PASS", "user_pin", "MYSQL_PWD"]),
    st.sampled_from([": ", "=", ' = "', "': '"]),
    VALUE,
)
def test_hypothesis_a_pass_key_is_hidden(name: str, separator: str, value: str) -> None:
    text = f"{{'{name}{separator}{value}" if separator.startswith("'") else name + separator + value
    shown = redact(text)
    assert value not in shown, shown
    assert shown == reference_redact(text)


GROWTH: dict[str, Callable[[int], str]] = {
    "short-p-runs": lambda n: "mysql" + " -p x" * (n // 5),
    "short-p-lines": lambda n: "-u a -p x\n" * (n // 10),
    "netrc-logins": lambda n: "machine x" + " login machine" * (n // 14),
    "netrc-lines": lambda n: "login\npassword x\n" * (n // 17),
    "encoded": lambda n: "%3A%2F%2F" + "%41a" * (n // 4),
    "windows": lambda n: " /a" * (n // 3),
    "tokens": lambda n: "hf_" * (n // 3),
    "piped": lambda n: "|//" * (n // 3),
    "encoded-params": lambda n: "%3Fa" * (n // 4) + "%3D",
    "env-options": lambda n: "--env=" * (n // 6),
}


@pytest.mark.parametrize("make", GROWTH.values(), ids=GROWTH.keys())
def test_the_new_rules_are_linear(make: Callable[[int], str]) -> None:
    assert growth(redact, make) < LINEAR_BOUND
