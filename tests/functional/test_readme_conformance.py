"""README.md, mlenv.toml.example and schemas/mlenv.schema.json against the real interface.

The documentation is what users (and their scripts) are written against: every flag the
README's command table shows must be an option of that command's ``--help``, every option a
command has must be documented somewhere, every manifest key the README or the example names
must be one the reader takes, and the schema must describe exactly the reader's tables, keys,
required keys and defaults. Each check fails on the first drift, naming it.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from mlenv.cli.app import cli
from mlenv.inputs import MANIFEST_KEYS, REQUIRED_KEYS
from mlenv.manifest_read import parse
from tests.support.cli import run_mlenv

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLE = (ROOT / "mlenv.toml.example").read_text()
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "mlenv.schema.json").read_text())
DOCS = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))

_FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
_CODE = re.compile(r"`([^`]+)`")


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group), path
        command = command.commands[name]
    return command


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*path, name)))
    return found


def _spellings(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def _table_usages() -> list[tuple[tuple[str, ...], list[str], str]]:
    """(command path, flags shown, the cell) for every `mlenv ...` span in the Tour table's
    first column."""
    usages = []
    for line in README.splitlines():
        if not line.startswith("| `"):
            continue
        cell = re.split(r"(?<!\\)\|", line[1:])[0].replace("\\|", "|")
        for span in _CODE.findall(cell):
            words = span.split()
            if not words or words[0] != "mlenv":
                continue
            path: list[str] = []
            command: click.Command = cli
            for word in words[1:]:
                if isinstance(command, click.Group) and word in command.commands:
                    path.append(word)
                    command = command.commands[word]
                else:
                    break
            usages.append((tuple(path), _FLAG.findall(" ".join(words[1 + len(path) :])), span))
    return usages


USAGES = _table_usages()


def test_the_tour_table_is_parsed() -> None:
    commands = {path for path, _, _ in USAGES}
    # Every command mlenv has is a row of the table (a group's subcommands stand for it).
    every = {path for path, command in _commands(cli) if not isinstance(command, click.Group)}
    assert every <= commands, sorted(every - commands)


@pytest.mark.parametrize(("path", "flags", "span"), USAGES, ids=[u[2] for u in USAGES])
def test_every_flag_in_the_table_is_in_that_commands_help(
    path: tuple[str, ...], flags: list[str], span: str
) -> None:
    assert path, f"{span!r} names no mlenv command"
    done = run_mlenv([*path, "--help"], ROOT)
    assert done.returncode == 0, done.stderr
    helped = set(_FLAG.findall(done.stdout))
    for flag in flags:
        assert flag in helped, f"{span!r}: {flag} is not in `mlenv {' '.join(path)} --help`"


@pytest.mark.parametrize(
    ("path", "command"), _commands(cli), ids=[" ".join(p) for p, _ in _commands(cli)]
)
def test_every_option_of_a_command_is_documented(
    path: tuple[str, ...], command: click.Command
) -> None:
    documented = set(_FLAG.findall(README))
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden or "--help" in param.opts:
            continue
        spellings = [*param.opts, *param.secondary_opts]
        assert documented & set(spellings), f"mlenv {' '.join(path)} {spellings}: not in README"


def test_global_options_paragraph_matches_the_group() -> None:
    paragraph = README.split("Global options", 1)[1].split("\n\n", 1)[0]
    shown = {flag for span in _CODE.findall(paragraph) for flag in _FLAG.findall(span)}
    assert shown - {"-h"} == _spellings(cli) - {"-h", "--help"}


def test_every_mlenv_environment_variable_is_documented_and_real() -> None:
    source = "".join(p.read_text() for p in sorted((ROOT / "mlenv").rglob("*.py")))
    read = set(re.findall(r"\"(MLENV_[A-Z_]+)\"", source))
    documented = set(re.findall(r"\b(MLENV_[A-Z][A-Z_]*[A-Z])\b", DOCS))
    assert read <= documented, sorted(read - documented)
    tests = "".join(p.read_text() for p in sorted((ROOT / "tests").rglob("conftest.py")))
    assert documented <= read | set(re.findall(r"(MLENV_[A-Z_]+)", tests)), sorted(
        documented - read
    )


# --- the manifest -----------------------------------------------------------------------------


def test_schema_tables_and_keys_are_the_readers() -> None:
    assert tuple(SCHEMA["properties"]) == MANIFEST_KEYS[""]
    assert SCHEMA["required"] == ["environment"]
    for table in MANIFEST_KEYS[""]:
        schema_table = SCHEMA["properties"][table]
        assert schema_table["additionalProperties"] is False, table
        assert tuple(schema_table["properties"]) == MANIFEST_KEYS[table], table
        assert tuple(schema_table.get("required", ())) == REQUIRED_KEYS.get(table, ()), table


def test_schema_defaults_are_what_show_prints() -> None:
    """A default the schema states (editors show it) is the one mlenv fills in."""
    minimal = parse({"environment": {"name": "demo", "python": "3.11"}}).to_dict()
    for table in MANIFEST_KEYS[""]:
        for key, spec in SCHEMA["properties"][table]["properties"].items():
            if "default" in spec:
                assert minimal[table][key] == spec["default"], f"[{table}] {key}"


def _example_keys() -> list[tuple[str, str]]:
    """Every (table, key) mlenv.toml.example sets or shows commented out."""
    keys, table = [], ""
    for line in EXAMPLE.splitlines():
        if match := re.fullmatch(r"#?\s*\[([a-z-]+)\]\s*(#.*)?", line.strip()):
            table = match.group(1)
        elif match := re.match(r"#?\s*([a-z][a-z-]*)\s*=\s*\S", line.strip()):
            keys.append((table, match.group(1)))
    return keys


def test_every_key_of_the_example_is_read_and_in_the_schema() -> None:
    keys = _example_keys()
    every = {(t, k) for t in MANIFEST_KEYS[""] for k in MANIFEST_KEYS[t]}
    assert set(keys) == every, sorted(every ^ set(keys))


def test_every_manifest_key_the_readme_names_is_read() -> None:
    named = re.findall(r"\[([a-z]+)\]`? `?([a-z][a-z-]*)`?", README)
    tables = [(t, k) for t, k in named if t in MANIFEST_KEYS and t != ""]
    assert len(tables) > 10
    for table, key in tables:
        if key in MANIFEST_KEYS[table]:
            continue
        # "`[cuda]` to 12.4", "[pypi] sources pins": prose after a table, not a key.
        assert f"[{table}] {key} =" not in README and f"`[{table}] {key}`" not in README, (
            f"README names [{table}] {key}, which the manifest reader does not take"
        )


def test_readme_example_toml_blocks_are_valid_manifest_tables() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        data = tomllib.loads(block)
        for table, values in data.items():
            assert table in MANIFEST_KEYS[""], table
            assert set(values) <= set(MANIFEST_KEYS[table]), (table, values)


def test_the_manifest_error_example_is_what_mlenv_prints(tmp_path: Path) -> None:
    block = README.split("with its key path and a hint:\n\n```text\n", 1)[1].split("```", 1)[0]
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "demo"\npython = "3.99"\n[pypi]\ndependncies = []\n'
    )
    done = run_mlenv(["show"], tmp_path)
    assert done.returncode == 1
    assert done.stderr == block


def test_the_example_manifest_is_shown(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_text(EXAMPLE)
    done = run_mlenv(["show", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    data = tomllib.loads(EXAMPLE)
    for table, values in data.items():
        for key, value in values.items():
            assert shown[table][key] == value, (table, key)
