"""Attack 213: a secret split by a character a URL reader drops.

WHATWG's URL parser, urllib's ``urlsplit`` and pip's and uv's readers drop a tab, CR or LF
anywhere in a URL (and strip C0 controls and spaces around it), so ``https://us\\ner:p\\rw@host``
sends the password ``pw``. The redactor found a userinfo only within one word.

Found and fixed: ``echoed.without_secrets`` and ``redaction.redact`` showed the password of a
URL whose userinfo held a line break (``https://user:S3cret\\nPw...@host``), a secret
parameter's value or name (``?token=S3c\\nret``, ``?to\\nken=``) or an anaconda.org ``/t/``
token so split; ``errors.printable`` turned the break into ``?`` first, which then hid the
name ``to?ken`` from the parameter rule. The redactor's userinfo, word, parameter and ``/t/``
patterns now run across tabs and line breaks (``redaction_userinfo.GLUE``), and across other
C0 controls inside a userinfo (a URL reader percent-encodes those, so they are the secret's).

Found and fixed: ``MLENV_CA_BUNDLE=/x/alice:<password>\\t@h/ca.pem`` showed the password in
``lock``'s error (the redactor above). ``init --from requirements.txt`` (and an
environment.yml ``pip:`` item) with ``--index-url https://alice:S3cret\\t<rest>@host``
showed ``'<rest>@host' follows the options``: the tab split the line as pip's shlex does,
and the message quoted the half no redactor can know for a password's; it now quotes the
whole line. A lone CR in a requirements file ends a line for pip (``str.splitlines``), so
``--index-url https://alice:S3cret\\r<rest>@host`` made ``<rest>`` a requirement named in
``<rest> comes from a direct URL``; such a file is now refused, naming the line only.

Held (Hypothesis, through ``init --from``, ``lock``, ``fetch`` and ``verify``): the manifest
and the pylock, pixi and environment.yml importers refuse a control character in a location
and quote it escaped; ``MLENV_MANIFEST``, ``MLENV_CACHE_REGISTRY`` and ``HTTPS_PROXY`` hide it.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.echoed import shown, without_secrets
from mlenv.errors import printable
from mlenv.redaction import redact
from tests.support.cli import run_in_process

pytestmark = pytest.mark.hostile

_DROPPED = "\t\n\r"  # what a URL reader removes anywhere in a URL
_IN_USERINFO = "\t\n\r\x00\x0b\x0c\x1f "  # what a password may hold (encoded or dropped)
_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _slices(secret: str) -> list[str]:
    return [secret[start : start + 8] for start in range(len(secret) - 7)]


def _leaks(secret: str, text: str) -> list[str]:
    """The 8-character slices of ``secret`` that ``text`` shows."""
    return [piece for piece in _slices(secret) if piece in text]


# A letter first: a password of digits then a blank reads as a port (``redact``'s known limit).
_PASSWORDS = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_letters),
    st.text(string.ascii_letters + string.digits, min_size=15, max_size=23),
).filter(lambda text: any(char.isdigit() for char in text))


@st.composite
def _split(draw: st.DrawFn, text: str, alphabet: str) -> str:
    """``text`` with runs of ``alphabet``'s characters inserted at a few places."""
    places = sorted(draw(st.lists(st.integers(0, len(text)), min_size=1, max_size=4)))
    pieces: list[str] = []
    done = 0
    for place in places:
        pieces += (text[done:place], draw(st.text(alphabet, min_size=1, max_size=2)))
        done = place
    return "".join([*pieces, text[done:]])


@st.composite
def _secret_urls(draw: st.DrawFn) -> tuple[str, str]:
    """(password, a URL carrying it with tabs and line breaks anywhere in it, other controls
    and blanks in its userinfo, and C0 controls or blanks around it)."""
    password = draw(_PASSWORDS)
    scheme = draw(st.sampled_from(["https://", "http://", "oci://", "https:\\\\", "https:/"]))
    shape = draw(st.sampled_from(["user", "token", "query", "path"]))
    if shape in ("user", "token"):
        user = "alice:" if shape == "user" else ""
        # a blank in a user alone is prose's as much (``https://h.example see bob@corp``)
        userinfo = user + draw(_split(password, _IN_USERINFO if user else _IN_USERINFO[:-1]))
        url = draw(_split(f"{scheme}{userinfo}@pkgs.example/simple/", _DROPPED))
    elif shape == "query":
        url = draw(_split(f"https://pkgs.example/simple/?token={password}", _DROPPED))
    else:
        url = draw(_split(f"https://conda.anaconda.org/t/{password}/chan", _DROPPED))
    around = draw(st.text("\x00\x01\x1f \t\n\r", max_size=2))
    return password, f"{around}{url}{around[::-1]}"


_MESSAGES = [
    "{url}",
    "error: [pypi].index-url {url!r} is not valid",
    "cannot fetch {url}: 401",
    "index-url = '{url}'",
    'failed: "{url}" (from PIP_INDEX_URL)',
]


@_SETTINGS
@given(found=_secret_urls(), message=st.sampled_from(_MESSAGES))
def test_hypothesis_a_dropped_character_hides_no_secret_from_the_redactor(
    found: tuple[str, str], message: str
) -> None:
    """Before: ``https://user:S3cret\\nPw9x...@host`` was shown whole by ``without_secrets``,
    ``printable`` and ``shown``; so were ``?token=S3c\\nret...``, ``/t/S3c\\nret.../`` and
    a ``?to\\nken=`` name (``printable`` made it ``to?ken``)."""
    password, url = found
    text = message.format(url=url)
    for hidden in (without_secrets(text), shown(text), printable(text, limit=10_000)):
        assert _leaks(password, hidden) == [], (text, hidden)
    if message == "{url}" and " " not in url.strip():  # ``redact`` alone: raw, no blank
        assert _leaks(password, redact(text)) == [], (text, redact(text))


def test_a_line_break_in_a_userinfo_is_hidden_and_the_host_kept() -> None:
    """The host, the path and the text around stay (the inputs hash counts an index's host)."""
    text = "cannot fetch https://us\ner:S3cret\rPw9xQ7zrLong@pkgs.example/simple/: 401"
    assert without_secrets(text) == "cannot fetch https://***@pkgs.example/simple/: 401"
    assert redact("x https://user:S3cret\nPw9xQ7zrLong@\nhost/ y") == "x https://***@\nhost/ y"


def test_a_line_break_hides_no_parameter_name() -> None:
    """Before: ``printable`` turned the break of ``to\\nken`` into ``?``, then no parameter rule
    knew ``to?ken``: the value was shown."""
    hidden = printable("GET https://h/x?to\nken=S3cretPw9xQ7zrLong&a=1")
    assert hidden == "GET https://h/x?to?ken=***&a=1"


# The user's own files: what was imported, and mlenv.toml, which ``init --from`` writes with
# the locations as given (the manifest stays with its origin; a lock or bundle hides them).
_OWN = frozenset({"requirements.txt", "environment.yml", "pylock.toml", "pixi.toml", "mlenv.toml"})


def _files(root: Path) -> str:
    """Every file the command left but the user's own."""
    paths = sorted(path for path in root.rglob("*") if path.is_file() and path.name not in _OWN)
    return "".join(path.read_text("utf-8", "replace") for path in paths)


def _shows(password: str, root: Path, *outputs: str) -> list[str]:
    """The slices of ``password`` that the command's outputs or the files it left show."""
    return _leaks(password, "".join(outputs) + _files(root))


def _run(root: Path, args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return run_in_process(args, root, {"MLENV_CACHE_DIR": str(root / "c"), **(env or {})})


_MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n'
    '[pypi]\ndependencies = ["numpy"]\n'
)
_OPTIONS = ["--index-url", "--extra-index-url", "-i", "--find-links"]


@pytest.mark.parametrize("option", _OPTIONS)
@pytest.mark.parametrize("split", ["\t", "\r", "\t\t", "\r\r"])
def test_init_from_requirements_with_a_split_password_shows_none_of_it(
    tmp_path: Path, option: str, split: str
) -> None:
    """Before: a tab: ``'Pw9xQ7zrLong@127.0.0.1:9/simple' follows the options``; a CR:
    ``Pw9xQ7zrLong comes from a direct URL (127.0.0.1:9/simple)``."""
    password = "S3cretPw9xQ7zrLong"
    line = f"{option} https://alice:{password[:6]}{split}{password[6:]}@127.0.0.1:9/simple"
    (tmp_path / "requirements.txt").write_text(f"{line}\nnumpy\n", newline="")
    code, out, err = _run(tmp_path, ["init", "--from", "requirements.txt"])
    assert code == 1, err
    assert "requirements.txt:1:" in err
    assert _leaks(password[6:], out + err) == []
    assert not (tmp_path / "mlenv.toml").exists()


def test_a_lone_carriage_return_is_refused_with_its_line(tmp_path: Path) -> None:
    """pip reads two lines where an editor may show one: the file is refused, naming where."""
    (tmp_path / "requirements.txt").write_bytes(b"numpy\r\nscipy\rpandas\n")
    code, _, err = _run(tmp_path, ["init", "--from", "requirements.txt"])
    assert code == 1
    assert "requirements.txt:2: pip ends a line at the U+000D here" in err
    (tmp_path / "requirements.txt").write_bytes(b"numpy\r\nscipy\r\n")
    code, _, err = _run(tmp_path, ["init", "--from", "requirements.txt"])
    assert code == 0, err


@_SETTINGS
@given(found=_secret_urls())
def test_hypothesis_init_from_files_shows_no_split_secret(
    tmp_path_factory: pytest.TempPathFactory, found: tuple[str, str]
) -> None:
    """A secret URL with dropped characters anywhere, as each importer takes a location:
    requirements.txt's ``--index-url`` (tabs only: a line break ends its line), an
    environment.yml ``pip:`` item and channel, a pylock.toml index and pixi's index-url
    (YAML and TOML escapes spell any control)."""
    password, url = found
    root = tmp_path_factory.mktemp("init")
    tabbed = url.replace("\n", "\t").replace("\r", "\t")
    escaped = url.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    files = {
        "requirements.txt": f"--index-url {tabbed}\nnumpy\n",
        "environment.yml": (
            f'channels:\n  - "{escaped}"\ndependencies:\n  - pip\n'
            f'  - pip:\n    - "--index-url {escaped}"\n    - numpy\n'
        ),
        "pylock.toml": (
            'lock-version = "1.0"\ncreated-by = "uv"\n[[packages]]\nname = "numpy"\n'
            f'version = "2.1.0"\nindex = "{escaped}"\n[[packages.wheels]]\n'
            f'name = "numpy-2.1.0-py3-none-any.whl"\nurl = "{escaped}"\n'
            f'hashes = {{sha256 = "{"0" * 64}"}}\n'
        ),
        "pixi.toml": (
            '[workspace]\nname = "x"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
            f'[pypi-options]\nindex-url = "{escaped}"\n[pypi-dependencies]\nnumpy = "*"\n'
        ),
    }
    for name, text in files.items():
        (root / name).write_text(text, newline="")
        _, out, err = _run(root, ["init", "--from", name])
        assert _shows(password, root, out, err) == [], (name, url, err)
        (root / "mlenv.toml").unlink(missing_ok=True)


@_SETTINGS
@given(found=_secret_urls())
def test_hypothesis_environment_variables_show_no_split_secret(
    tmp_path_factory: pytest.TempPathFactory, found: tuple[str, str]
) -> None:
    """Before: ``MLENV_CA_BUNDLE=/x/alice:S3cret\\tPw...@h/ca.pem: cannot load ...`` showed the
    password, and ``MLENV_MANIFEST=https://conda.anaconda.org/t/<token>/c`` its token (the
    path's ``https:/``). ``lock --offline``, ``fetch`` and ``verify`` with the value (no NUL:
    an environment holds none) in each variable that takes a path or a URL."""
    password, url = found
    root = tmp_path_factory.mktemp("env")
    (root / "mlenv.toml").write_text(_MANIFEST)
    runs = [
        (["lock", "--offline"], "MLENV_CA_BUNDLE"),
        (["lock", "--offline"], "HTTPS_PROXY"),
        (["lock", "--offline"], "MLENV_MANIFEST"),
        (["fetch"], "MLENV_CACHE_REGISTRY"),
        (["verify"], "MLENV_MANIFEST"),
    ]
    for args, variable in runs:
        if variable == "MLENV_MANIFEST" and "oci:" in url:  # a path: ``oci:/u:p w@h`` is no URL
            continue
        value = (url if variable != "MLENV_CA_BUNDLE" else f"/x/{url}/ca.pem").replace("\0", "")
        _, out, err = _run(root, args, {variable: value})
        assert _shows(password, root, out, err) == [], (args, variable, url, err)
