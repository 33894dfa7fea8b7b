"""The scripts a wheel's ``entry_points.txt`` makes, and their names, as pip makes them."""

from __future__ import annotations

import configparser
import re

from mlenv.install.safety import entry_point_problem, refused

# (section, script name, value) of one console or GUI script
EntryPoint = tuple[str, str, str]
_SECTIONS = ("console_scripts", "gui_scripts")
_PIP_VERSIONED = re.compile(r"pip(\d+(\.\d+)?)?")
_EASY_INSTALL_VERSIONED = re.compile(r"easy_install(-\d+\.\d+)?")


class _CaseKeeping(configparser.ConfigParser):
    """entry_points.txt names are case-sensitive script names."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def entry_points(wheel: str, member: str, text: str) -> list[EntryPoint]:
    """The console and GUI scripts ``text`` (the wheel's ``member``) declares, each vetted."""
    # Read as installer reads it (`installer.utils.parse_entrypoints`): '%' interpolation on,
    # so a value it cannot expand is refused here, naming the member, not midway through
    # the install.
    parser = _CaseKeeping(delimiters=("=",))
    declared: list[EntryPoint] = []
    try:
        parser.read_string(text)
        for section in _SECTIONS:
            for script in parser.options(section) if parser.has_section(section) else []:
                if problem := entry_point_problem(script, parser.get(section, script)):
                    raise refused(wheel, member, problem)
                declared.append((section, script, parser.get(section, script).strip()))
    except configparser.Error as exc:
        raise refused(wheel, member, f"cannot be parsed: {exc}") from None
    return declared


def versioned(declared: list[EntryPoint], python: str) -> list[EntryPoint]:
    """The scripts made from ``declared``, by pip's rule for the two console scripts named
    after the Python that built the wheel: ``pip`` is also ``pip3`` and ``pip3.X`` of the
    target, ``easy_install`` also ``easy_install-3.X``, and the wheel's own versioned names go
    (pip 24.0's ``pip3.10`` is no script of a 3.11 environment)."""
    scripts = list(declared)
    for name, pattern, spellings in (
        ("pip", _PIP_VERSIONED, (f"pip{python.split('.')[0]}", f"pip{python}")),
        ("easy_install", _EASY_INSTALL_VERSIONED, (f"easy_install-{python}",)),
    ):
        value = next((v for s, n, v in declared if (s, n) == (_SECTIONS[0], name)), None)
        if value is not None:
            scripts = [e for e in scripts if e[0] != _SECTIONS[0] or not pattern.fullmatch(e[1])]
            scripts += [(_SECTIONS[0], script, value) for script in (name, *spellings)]
    return scripts


def rendered(scripts: list[EntryPoint]) -> str:
    """``scripts`` as the entry_points.txt installer reads to make them. The values were
    read with '%' interpolation, as installer reads them again: each '%' left is written as
    '%%' (``foo = mod:main [100%%]`` read as ``[100%]``, written back bare, failed)."""
    return "".join(
        f"[{section}]\n"
        + "".join(f"{n} = {v.replace('%', '%%')}\n" for s, n, v in scripts if s == section)
        for section in _SECTIONS
    )


def wrapper_of(script: str) -> str:
    """The entry point a .data/scripts file would be setuptools' wrapper of, by pip's rule
    (suffixes any case, the name exactly): old wheels (pylint 1.8.3) hold such wrappers under
    the names their entry points declare, and pip installs the generated scripts instead."""
    for suffix in (".exe", "-script.py", ".pya"):
        if script.lower().endswith(suffix):
            return script[: -len(suffix)]
    return script
