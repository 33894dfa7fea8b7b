"""Hundred-seventy-sixth adversary pass: invariant 7's bounds on what a lock, a manifest and a
wheel's METADATA make their readers hold and do.

Four gaps, each closed at its enforcing function: the TOML value bound counted ``=`` and ``,``
inside strings, so a real 3,000 + 3,000 conda lock on two platforms was refused
(``limits._key_problem`` now counts outside strings and comments); the manifest reader judged
and printed every problem (``manifest_checker._Checker``: 90,000 unknown keys took 6 s and printed
3 MB); a wheel's METADATA and WHEEL reached the email parser at install without the line bound
the resolver's reader enforces (``limits.enforce_metadata_lines``, now for both); a lock of
500,000 markered requirements took 31 s to read (``limits.listed_problem``: an array of a lock
or a manifest holds at most 10,000 strings)."""

from __future__ import annotations

import tomllib
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import lockfile_read, lockfile_render, manifest_checker, manifest_read
from mlenv.errors import ManifestError
from mlenv.install.checks import plan_wheel
from mlenv.install.layout import Layout
from mlenv.install.safety import Limits
from mlenv.limits import (
    MAX_IMPORTED_REQUIREMENTS,
    MAX_METADATA_LINES,
    MAX_TOML_VALUES,
    LimitError,
    parse_toml,
)
from mlenv.lockfile import LockError
from tests.support.big_locks import big_lock
from tests.support.cli import run_in_process
from tests.support.locks import sample
from tests.support.raw_wheels import METADATA, WHEEL, raw_wheel

ENVIRONMENT = '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n'


# 1. The TOML value bound counts values, not bytes inside strings


def test_a_real_two_platform_lock_of_3000_wheels_and_3000_conda_records_is_read() -> None:
    """Before: 642,019 of ``[{=,`` (conda's ``dep >=1.2,<2`` strings) were counted as values
    and the lock refused; it holds far fewer real ones."""
    text = lockfile_render.render(big_lock())
    assert sum(map(text.count, "[{=,")) > MAX_TOML_VALUES  # the bytes alone would refuse it
    lock = lockfile_read.loads(text)
    assert [len(p.conda) for p in lock.platforms] == [3_000, 3_000]


def test_separators_inside_strings_and_comments_are_no_values() -> None:
    text = (
        'a = "' + "=," * MAX_TOML_VALUES + '"\n'
        "b = '" + "[{" * MAX_TOML_VALUES + "'\n"
        "# " + "," * MAX_TOML_VALUES + "\n"
        'c = """\n' + "=," * 1000 + '"""""\n'
    )
    assert parse_toml(text)["c"].endswith('""')


_PIECES = st.sampled_from(
    [
        '"',
        "'",
        '"""',
        "'''",
        "#",
        "=",
        ",",
        "[",
        "]",
        "{",
        "}",
        "\\",
        "\n",
        " ",
        "a",
        "1",
        "a = ",
        "x=[",
        '\\"',
        "[t]\n",
        "[[t]]\n",
        "b.c = ",
        "\r\n",
        '""',
        "''",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_PIECES, max_size=24).map("".join))
def test_no_string_or_comment_hides_the_values_after_it(head: str) -> None:
    """Whatever strings and comments ``head`` holds (quotes closing a multi-line string,
    escapes, lines left open), once tomllib reads it, more than MAX_TOML_VALUES real values
    after it are refused, not read: no quote ``head`` leaves behind can make the count skip
    them."""
    try:
        tomllib.loads(head)
    except tomllib.TOMLDecodeError:
        return
    text = head + "\nzz_padding = [" + "1," * MAX_TOML_VALUES + "]\n"
    with pytest.raises(tomllib.TOMLDecodeError, match="values, arrays and tables"):
        parse_toml(text)


@pytest.mark.parametrize("opening", ['x = "', "x = '", 'x = """', "x = '''"])
def test_a_string_left_open_is_refused_without_quadratic_scanning(opening: str) -> None:
    """A quote that never closes, followed by many others that start strings which never
    close either: each is scanned once (a failed match retried at every later quote was
    quadratic)."""
    text = opening + ('"""\\' + ",") * (MAX_TOML_VALUES // 2)
    with pytest.raises(tomllib.TOMLDecodeError):
        parse_toml(text)


# 2. The manifest reports its first problems and counts the rest


@pytest.mark.parametrize("table", ["", "[environment]\n", "[pypi]\n", "[build]\n"])
def test_a_manifest_of_unknown_keys_shows_the_first_and_counts_the_rest(table: str) -> None:
    """Before: 90,000 unknown keys were each matched against every known one (6 s) and
    printed (3 MB)."""
    keys = "".join(f"k{i} = 1\n" for i in range(90_000))
    text = {"": keys + ENVIRONMENT, "[environment]\n": ENVIRONMENT + keys}.get(
        table, ENVIRONMENT + table + keys
    )
    with pytest.raises(ManifestError) as caught:
        manifest_read.loads(text)
    assert str(caught.value).startswith("mlenv.toml: 90,000 problems")
    assert len(caught.value.problems) == manifest_checker.MAX_SHOWN_PROBLEMS + 1
    assert caught.value.problems[-1].message == "and 89,900 more problems not shown"
    assert len(caught.value.render()) < 40_000


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 400), st.sampled_from(["keys", "requirements"]))
def test_every_problem_is_counted_and_at_most_the_cap_shown(count: int, kind: str) -> None:
    if kind == "keys":
        text = ENVIRONMENT + "[pypi]\n" + "".join(f"k{i} = 1\n" for i in range(count))
    else:
        entries = ",".join(f'"a{i}!"' for i in range(count))
        text = f"{ENVIRONMENT}[pypi]\ndependencies = [{entries}]\n"
    with pytest.raises(ManifestError) as caught:
        manifest_read.loads(text)
    shown = min(count, manifest_checker.MAX_SHOWN_PROBLEMS)
    assert len(caught.value.problems) == shown + (count > shown)
    assert str(caught.value).startswith(f"mlenv.toml: {count:,} problem")


def test_the_cli_shows_a_flood_of_problems_briefly(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_text(ENVIRONMENT + "".join(f"k{i} = 1\n" for i in range(5_000)))
    code, _out, err = run_in_process(["lock", "--check"], tmp_path)
    assert code == 1 and "Traceback" not in err
    assert "and 4,900 more problems not shown" in err
    assert err.count("unknown key") == manifest_checker.MAX_SHOWN_PROBLEMS


# 3. A wheel's METADATA and WHEEL are bounded in lines at install, as the resolver bounds them


_LAYOUT = Layout("/opt/env", "/opt/env/bin/python", "3.11")


@pytest.mark.parametrize("end", ["\n", "\r", "\r\n"])
@pytest.mark.parametrize("member", ["METADATA", "WHEEL"])
def test_install_bounds_the_lines_of_a_wheels_metadata(
    tmp_path: Path, end: str, member: str
) -> None:
    """Before: install handed the email parser up to 64 MB of lines (13 MB of lone ``\\r``
    lines held 414 MB for 32 s in the resolver's reader before its bound)."""
    padding = (("X-A: b" + end) * (MAX_METADATA_LINES + 1)).encode()
    if member == "METADATA":
        wheel = raw_wheel(tmp_path, [], metadata=METADATA + padding)
    else:
        wheel = raw_wheel(tmp_path, [], wheel=WHEEL + padding)
    with ExitStack() as stack, pytest.raises(LimitError, match="lines of METADATA") as caught:
        plan_wheel(wheel, stack, _LAYOUT, Limits(1 << 30, 1 << 20))
    assert member in str(caught.value.where)


def test_install_takes_metadata_at_the_line_bound(tmp_path: Path) -> None:
    padding = "X-A: b\r" * (MAX_METADATA_LINES - METADATA.count(b"\n") - 2)
    wheel = raw_wheel(tmp_path, [("evil/__init__.py", b"")], metadata=METADATA + padding.encode())
    with ExitStack() as stack:
        plan_wheel(wheel, stack, _LAYOUT, Limits(1 << 30, 1 << 20))


# 4. No array of the lock or the manifest holds more strings than any real one


_ARRAYS = {
    "target.requirements": lambda lock, texts: replace(
        lock, target=replace(lock.target, requirements=texts)
    ),
    "target.overrides": lambda lock, texts: replace(
        lock, target=replace(lock.target, overrides=texts)
    ),
    "target.constraints": lambda lock, texts: replace(
        lock, target=replace(lock.target, constraints=texts)
    ),
    "platform.linux-64.package[0].dependencies": lambda lock, texts: lock.with_platforms(
        [
            replace(p, packages=(replace(p.packages[0], dependencies=texts), *p.packages[1:]))
            for p in lock.platforms
        ]
    ),
}


@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from(sorted(_ARRAYS)),
    st.sampled_from(['app;python_version>"{}"', "app>={}", 'app; extra == "e{}"']),
    st.integers(1, 50),
)
def test_a_lock_array_of_more_strings_than_any_real_one_is_refused(
    key: str, shape: str, over: int
) -> None:
    """Before: a lock of 500,000 markered requirements took 31 s to read (each parsed and
    evaluated for each platform); now past 10,000 an array is refused, naming its key."""
    texts = tuple(shape.format(i) for i in range(MAX_IMPORTED_REQUIREMENTS + over))
    text = lockfile_render.render(_ARRAYS[key](sample(), texts))
    with pytest.raises(LockError) as caught:
        lockfile_read.loads(text)
    where = [p.where for p in caught.value.problems if "more than 10,000" in p.message]
    assert where[0] == f"mlenv.lock: {key}"  # and the same on linux-aarch64
    assert all(p.hint for p in caught.value.problems)


def test_a_lock_of_10000_markered_requirements_is_read() -> None:
    texts = tuple(f'app;python_version>"{i}"' for i in range(MAX_IMPORTED_REQUIREMENTS))
    lock = _ARRAYS["target.requirements"](sample(), texts)
    assert lockfile_read.loads(lockfile_render.render(lock)).target.requirements == texts


@pytest.mark.parametrize("key", ["dependencies", "constraints", "overrides", "find-links"])
def test_the_manifest_refuses_the_arrays_the_lock_would(key: str) -> None:
    """So `mlenv lock` never writes a lock its own reader refuses."""
    entries = ",".join(f'"a{i}"' for i in range(MAX_IMPORTED_REQUIREMENTS + 1))
    with pytest.raises(ManifestError) as caught:
        manifest_read.loads(f"{ENVIRONMENT}[pypi]\n{key} = [{entries}]\n")
    assert [p.where for p in caught.value.problems] == [f"mlenv.toml: [pypi].{key}"]
    assert "10,001 entries, more than 10,000" in caught.value.problems[0].message


def test_the_cli_refuses_a_lock_of_too_many_requirements_naming_the_key(tmp_path: Path) -> None:
    texts = tuple(f'app;python_version>"{i}"' for i in range(MAX_IMPORTED_REQUIREMENTS + 1))
    (tmp_path / "mlenv.toml").write_text(f'{ENVIRONMENT}[pypi]\ndependencies = ["app"]\n')
    lock = _ARRAYS["target.requirements"](sample(), texts)
    (tmp_path / "mlenv.lock").write_text(lockfile_render.render(lock))
    code, _out, err = run_in_process(["lock", "--check"], tmp_path)
    assert code == 1 and "Traceback" not in err
    assert "mlenv.lock: target.requirements: 10,001 entries, more than 10,000" in err
    assert "hint: regenerate it" in err
