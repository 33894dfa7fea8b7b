"""Twenty-seventh adversary pass: the JSON error events, the raw-password redactor, the
manifest's whole-value patterns and the reading of ``--log-format`` attacked in the shapes the
twenty-sixth pass left open. Each test names what it protects and fails if its fix is undone."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv import lockfile_read, lockfile_render, uptodate
from mlenv.cli import app
from mlenv.cli.app import main as cli_main
from mlenv.commands.session import open_session
from mlenv.conda.records import match_spec_name
from mlenv.errors import ManifestError, UsageError
from mlenv.lockfile import Lock, LockedPlatform, LockError, LockTarget
from mlenv.manifest_read import loads as load_manifest
from mlenv.redaction import redact
from mlenv.report import JsonReporter, emit_json
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.locks import HASH, conda_record

SECRET = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=6, max_size=20)
HOST = st.from_regex(r"[a-z]{2,8}\.(com|org|net)", fullmatch=True)
# A character JSON escapes (\uXXXX, \n, \t): its escape is letters and digits, which the
# redactor read as a scheme or a value when it redacted the dump instead of the strings.
ESCAPED = st.sampled_from(["é", "ü", "\u00a0", "\n", "\t", "☃"])


def _event(**event: object) -> dict[str, object]:
    stream = io.StringIO()
    emit_json(stream, **event)
    line = stream.getvalue()
    assert line.count("\n") == 1
    loaded = json.loads(line)
    assert isinstance(loaded, dict)
    return loaded


@given(SECRET, ESCAPED, st.sampled_from(["&token=", ";access_token=", "&password="]))
def test_a_json_event_hides_what_the_human_line_hides(
    secret: str, escaped: str, param: str
) -> None:
    """emit_json (the CLI's error events and the JSON reporter) redacts each string as the
    human line is redacted: ``é://a&token=S@CRET`` showed CRET in JSON, hidden in prose."""
    text = f"{escaped}://a{param}S@{secret} and more"
    assert secret not in redact(text)
    event = _event(event="error", message=text, problems=[{"where": text, "hint": None}])
    assert event["message"] == redact(text)
    assert event["problems"] == [{"where": redact(text), "hint": None}]
    assert secret not in json.dumps(event)


def test_the_json_reporter_redacts_as_the_human_line() -> None:
    """JsonReporter's warnings go through the same redaction as error events."""
    stream = io.StringIO()
    JsonReporter(stream).warning("é://a&token=S@TOPSECRET")
    assert "TOPSECRET" not in stream.getvalue()
    assert json.loads(stream.getvalue())["message"] == redact("é://a&token=S@TOPSECRET")


@given(
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    SECRET,
    SECRET,
    st.sampled_from(["/", "?", "#"]),
    HOST,
)
def test_a_raw_password_may_hold_a_colon_too(
    user: str, first: str, second: str, raw: str, host: str
) -> None:
    """A password typed with a ':' and a raw '/', '?' or '#' (``user:pa:s/s@host``) is hidden
    whole, its host kept: the raw-password pattern stopped at any ':' and showed it all."""
    for password in (f"{first}:{raw}{second}", f"{first}{raw}{second}:", f"{first}{raw}:{second}"):
        text = f"see https://{user}:{password}@{host}/simple, then retry"
        shown = redact(text)
        assert first not in shown and second not in shown, text
        assert f"@{host}/simple" in shown


def test_a_colon_password_stops_at_the_next_url() -> None:
    """The colon a password may hold is not a "://": the scan still ends at the next URL, so a
    port-bearing URL after it keeps its host."""
    text = "https://a:b/c,https://host:8080/x@y"
    assert redact(text) == text
    assert (
        redact("https://u:p:w/d@h https://host:8080/x@y") == "https://***@h https://host:8080/x@y"
    )


def test_the_colon_shapes_keep_the_redactor_linear() -> None:
    """Four times the text takes about four times as long (16x would be quadratic): the
    password's ':' must not let one scan run on over the rest of the text."""
    shapes: list[Callable[[int], str]] = [
        lambda n: "://a:" + ":/" * n,
        lambda n: "://a:x" * n,
        lambda n: "x://u:" + ":" * n + "@",
        lambda n: "://u:p:" * n,
    ]
    for number, shape in enumerate(shapes):
        assert growth(redact, shape) < LINEAR_BOUND, number


MANIFEST = '[environment]\nname = "e"\npython = "3.11"\n[pypi]\n'


@pytest.mark.parametrize("blank", ["\u2028", "\u00a0", "\u3000", "\x1f", "\x85"])
def test_a_url_with_a_unicode_blank_is_still_refused(blank: str) -> None:
    """``[pypi].index-url`` and ``[conda].channels`` are matched whole in Unicode: in ASCII,
    ``\\S`` took U+2028 and U+00A0, which the manifest refused before it matched whole."""
    with pytest.raises(ManifestError):
        load_manifest(MANIFEST + f'index-url = "https://host/simple{blank}x"\n')
    with pytest.raises(ManifestError):
        load_manifest(
            MANIFEST + f'[conda]\nchannels = ["{blank}"]\ndependencies = ["python 3.11.*"]\n'
        )


@pytest.mark.parametrize(
    "url",
    [
        "https://host:8443/pypi/simple/",
        "https://h/simple?x=1&y=2",
        "file:///srv/wheels",
        "http://h",
    ],
)
def test_real_urls_and_channels_pass(url: str) -> None:
    """The whole-value patterns take every real spelling (ports, paths, queries, file URLs)."""
    manifest = load_manifest(
        MANIFEST + f'index-url = "{url}"\n[conda]\n'
        'channels = ["conda-forge", "https://host/channel/label/main"]\n'
        'dependencies = ["python 3.11.*", "pytorch-cuda=12.4", "numpy>=1.26,<2"]\n'
    )
    assert manifest.pypi.index_url == url


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "--", "--log-format", "json", "show"],  # "--" is -m's value, not the end
        ["-vm", "--", "--log-format=json", "show"],
        ["--log-format", "human", "--log-format", "json", "show"],  # the last one wins
        ["--cache=c", "--log-format", "json", "show"],
    ],
)
def test_every_failure_line_is_json_whenever_click_reads_json(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    """``--log-format`` is read as click reads it: after ``-m --`` it is in force, and the
    error was prose; every stderr line is then a JSON event."""
    monkeypatch.chdir(tmp_path)
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines, err
    for line in lines:
        assert json.loads(line)["event"] in ("error", "info", "warning", "debug"), line


@pytest.mark.parametrize(
    "args",
    [
        ["--log-format", "json", "--log-format", "human", "show"],
        ["-m", "--log-format=json", "show"],  # a manifest named so, in human mode
        ["--cache", "--log-format=json", "show"],
    ],
)
def test_human_mode_failures_stay_prose(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    """Where click runs in human mode, the error is the human line, not an event."""
    monkeypatch.chdir(tmp_path)
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: "), err


SPELLINGS = ["./~", ".//~/x", "./~root", "~", "~/", "~/x", "~//x", "~/../x", "c", "./c/../d", ""]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_cache_is_one_directory_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    """``--cache`` names one directory for the full CLI's session and the no-op entry point,
    and only a ``~`` typed first is a home: ``./~`` (how a shell names the directory called
    ``~``, to clear one away) was spelled ``~`` by pathlib and became the home on both."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # a manifest here: with none, the entry point leaves `lock` to the full CLI, which looks
    # for one in the parent directories (mlenv.discover)
    (tmp_path / "mlenv.toml").write_text("")
    plain = uptodate._command(["--cache", spelling, "lock"])
    assert plain is not None and plain.cache is not None
    session = open_session(Path("mlenv.toml"), spelling, 0, True, "human")
    assert session.cache == Path(plain.cache)
    home = spelling[:1] == "~" and not spelling.startswith("~root")
    assert str(session.cache).startswith(str(tmp_path / "home")) == home, session.cache
    if spelling.startswith("./~"):
        assert str(session.cache).startswith("~")  # relative: the directory here


def test_the_cli_hands_the_cache_on_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI passes ``--cache`` to the session as typed: a pathlib ``Path`` of it had
    already turned ``./~`` into ``~``, which the session then expanded."""
    given: list[object] = []

    def fake(manifest: Path, cache: str | None, *rest: object) -> None:
        given.append(cache)
        raise UsageError("stop", where="--cache")

    monkeypatch.setattr(app, "open_session", fake)
    assert cli_main(["-q", "--cache", "./~", "show"]) == 1
    assert given == ["./~"]


@given(
    st.sampled_from(
        [
            "https://conda.anaconda.org/conda-forge",
            "https://conda.anaconda.org/conda-forge/linux-64",
            "https://host:8443/channel/label/main",
            "file:///srv/channel",
            "conda-forge",
            "nvidia/label/cuda-12.4.0",
        ]
    ),
    st.sampled_from(["", " >=1.26", "=1.26", "==1.26.4", "[version='>=1.26']"]),
)
def test_a_lock_with_a_url_channel_spec_is_read(channel: str, rest: str) -> None:
    """A conda spec whose channel is a URL (``https://conda.anaconda.org/conda-forge::numpy``,
    which rattler solves and `mlenv lock` writes) is about its package: its name was read as
    ``https``, and the lock reader refused the lock `mlenv lock` had just written."""
    spec = f"{channel}::numpy{rest}"
    assert match_spec_name(spec) == "numpy"
    target = LockTarget("3.11", "2.28", ("linux-64",), "first-index", (), (), (),
                        conda_requirements=(spec,))  # fmt: skip
    lock = Lock(HASH, target).with_platforms(
        [LockedPlatform("linux-64", (), (conda_record("numpy", "1.26.4"),))]
    )
    assert lockfile_read.loads(lockfile_render.render(lock)) == lock
    missing = Lock(HASH, target).with_platforms(
        [LockedPlatform("linux-64", (), (conda_record("scipy", "1.26.4"),))]
    )
    with pytest.raises(LockError, match="has no conda record"):
        lockfile_read.loads(lockfile_render.render(missing))


@given(
    SECRET,
    st.sampled_from(
        [
            "token[]",
            "access_token%5B%5D",
            "user[password]",
            "user%5Bpassword%5D",
            "auth[api_key]",
            "sig[0]",
            "data[][secret]",
        ]
    ),
    st.sampled_from(["?", "&", "#", ";"]),
)
def test_a_bracketed_secret_parameter_is_hidden(secret: str, name: str, sep: str) -> None:
    """A secret parameter named as PHP and Rails read arrays and nested keys (``token[]=``,
    ``user[password]=``, percent-encoded or not) has its value hidden: the name stopped at
    the '[' and the value was shown."""
    text = f"https://host/simple?a=1{sep}{name}={secret}&b=2"
    shown = redact(text)
    assert secret not in shown and "https://host/simple?a=1" in shown and "&b=2" in shown


def test_a_bracketed_plain_parameter_stays() -> None:
    """Brackets around names that carry no secret keep their values (an index URL's query is
    part of the inputs hash)."""
    for text in ("https://h/p?ids[]=1&ids[]=2", "https://h/p?q[name]=torch", "https://h/p?[]=x"):
        assert redact(text) == text


def test_the_bracket_shapes_keep_the_redactor_linear() -> None:
    """Four times the text takes about four times as long (16x would be quadratic)."""
    shapes: list[Callable[[int], str]] = [
        lambda n: "?[" * n + "=",
        lambda n: "&a[" * n,
        lambda n: "?token[" + "]" * n + "=x",
        lambda n: "?" + "[]" * n + "=x",
    ]
    for number, shape in enumerate(shapes):
        assert growth(redact, shape) < LINEAR_BOUND, number


@pytest.mark.parametrize("tail", ["\\n", "\\r\\n"])  # TOML escapes
def test_a_cache_registry_with_a_final_line_break_is_refused(tail: str) -> None:
    """``[cache].registry`` is matched whole, as the other manifest patterns now are: "$"
    matched before a final line break, so ``oci://host/repo\\n`` reached the registry."""
    with pytest.raises(ManifestError):
        load_manifest(MANIFEST + f'[cache]\nregistry = "oci://host:5000/mlenv/cache{tail}"\n')
    fine = load_manifest(MANIFEST + '[cache]\nregistry = "oci://host:5000/mlenv/cache"\n')
    assert fine.cache.registry == "oci://host:5000/mlenv/cache"
