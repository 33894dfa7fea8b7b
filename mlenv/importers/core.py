"""`mlenv init --from FILE`: start from the requirements a project already has.

Each reader turns one format into an ``Imported`` value; every entry mlenv cannot express is
reported at once with its file and line, and nothing is written then. This module reads
requirements files; ``files`` picks the reader of a file, ``manifest`` writes the manifest."""

from __future__ import annotations

import errno
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from mlenv.cache.files import open_plain
from mlenv.errors import Problem, ProblemsError
from mlenv.importers.options import RELEASE_CONTROLS, option_pairs, pip_order, release_control
from mlenv.importers.pins import Collision, certain, conflicting_pins, constraint_extras
from mlenv.importers.places import exists
from mlenv.importers.text import (
    HintedError,
    dangling_backslash,
    decode_text,
    logical_lines,
    odd_line_break,
    option_cut,
    parse_toml_hinted,
    squeeze,
)
from mlenv.limits import MAX_IMPORTED_REQUIREMENTS, MAX_INCLUDED_FILES, enforce
from mlenv.pep508 import requirement as parsed_requirement
from mlenv.shell_words import split_words
from mlenv.userfiles import InputError, read_handle, read_input

# Options that only tune how pip installs; the lock decides those things for mlenv.
_IGNORED = {"--prefer-binary", "--only-binary", "--no-binary", "--trusted-host", "--use-feature",
            "--require-hashes"}  # fmt: skip
# Every option pip reads on a line of its own (req_file.SUPPORTED_OPTIONS, pip 26)
FILE_OPTIONS = frozenset({"-i", "--index-url", "--extra-index-url", "--no-index", "-c",
                          "--constraint", "-r", "--requirement", "-e", "--editable", "-f",
                          "--find-links", "--no-binary", "--only-binary", "--prefer-binary",
                          "--require-hashes", "--no-require-hashes", "--pre", "--all-releases",
                          "--only-final", "--trusted-host", "--use-feature"})  # fmt: skip
_PYPI = "https://pypi.org/simple"
_URL = re.compile(r"(?i:https?|file)://\S+")  # what [pypi] index URLs take (manifest_values._url)
_MAX_INCLUDES = 32  # -r nesting deeper than this is a cycle or a mistake
# torch>=2.2.0+cu121 (Poetry's "^2.2.0+cu121" becomes that): pip and uv refuse it too
_LOCAL_RANGE_HINT = ("a local label (+cu121) goes only with == or !=: pin the build (torch=="
                     "2.2.0+cu121), or drop the label and take the package from that CUDA's "
                     "index")  # fmt: skip


class ImportFileError(ProblemsError):
    """The file cannot be imported, or holds requirements mlenv cannot express."""


@dataclass(frozen=True)
class Imported:
    """What a project file says, in the terms of mlenv.toml."""

    pypi: tuple[str, ...] = ()
    conda: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    index_strategy: str | None = None  # None: pip's best-match when there are extra indexes
    prerelease: str | None = None  # [pypi] prerelease (pip's --pre: "allow"); None: the default
    exclude_newer: str | None = None  # [pypi] exclude-newer (uv's), as the file spells it
    constraints: tuple[str, ...] = ()  # [pypi] constraints (pip's -c, uv's)
    overrides: tuple[str, ...] = ()  # [pypi] overrides (uv's)
    sources: tuple[tuple[str, str], ...] = ()  # [pypi] sources: (PEP 503 name, its only index)
    python: str | None = None  # the CPython minor the file names, if it does
    python_range: tuple[str, str] | None = None  # (where, a range it names: ">=3.12")
    platforms: tuple[str, ...] = ()  # the platforms the file was locked for, if it says
    cuda_floors: tuple[tuple[str, str], ...] = ()  # (conda pin, its locked `__cuda` depends)
    glibc: str | None = None  # [environment] glibc: the machines' glibc, if the file says
    driver_cuda: tuple[str, str] | None = None  # (where, the CUDA the machines' driver runs)
    notes: tuple[str, ...] = ()
    name: str | None = None  # the project's own name ([project] or Poetry's), as written
    collisions: tuple[Collision, ...] = ()  # pins no version meets on some targets only


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    roots: tuple[Path, ...] = ()  # where -r may lead: the imported file's and the project's
    files_read: int = 0
    read: list[tuple[str, Requirement]] = field(default_factory=list)  # (where, requirement)
    extras_at: list[str] = field(default_factory=list)  # where each --extra-index-url was read

    def fail(self, where: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(where, message, hint))

    def check(self, source: str) -> tuple[Collision, ...]:
        """Raise the problems found so far, with one project pinned twice so that no version
        is both on any target: every format's requirements are read by ``_requirement_line``
        into ``read``, so a pyproject, environment.yml or pixi.toml pair is refused as a
        requirements file's. The pairs that collide on some targets only are returned, for
        the manifest's targets to judge (``Imported.collisions``)."""
        collisions = conflicting_pins(self.read)
        self.problems += certain(collisions)
        if self.problems:
            raise ImportFileError(
                f"{source}: {len(self.problems)} requirement(s) mlenv cannot express; "
                "nothing was written",
                self.problems,
            )
        return tuple(collisions)


# ---------------------------------------------------------------------------------------------
# requirements.txt


def read_requirements(path: Path, roots: Sequence[Path] = ()) -> Imported:
    top = path.absolute().parent
    places = dict.fromkeys(Path(os.path.normpath(r.absolute())) for r in (top, *roots))
    collector = _Collector(roots=tuple(places))
    result = _requirements(path, collector, (), Imported())
    collisions = collector.check(str(path))
    return replace(result, notes=tuple(dict.fromkeys(collector.notes)), collisions=collisions)


def _requirements(
    path: Path, collector: _Collector, chain: tuple[Path, ...], result: Imported, origin: str = ""
) -> Imported:
    """``origin`` is the line and option (``-r``, ``-c``) that include ``path``, named in a
    problem with it."""
    resolved = path.resolve()
    where = f"{origin} {path}" if origin else str(path)
    if resolved in chain or len(chain) > _MAX_INCLUDES:
        by = origin.rpartition(" ")[2] or "-r"  # the -r or -c that closes the cycle
        collector.fail(where, f"includes itself through {by}", f"remove the circular {by} line")
        return result
    collector.files_read += 1
    enforce(collector.files_read, MAX_INCLUDED_FILES, "files read through -r", where=str(path))
    try:
        text = _read_text(path) if not chain else _read_include(path, collector.roots)
    except UnicodeDecodeError as exc:
        line = bytes(exc.object[: exc.start]).count(b"\n") + 1
        collector.fail(f"{path}:{line}", f"byte {exc.object[exc.start]:#04x} is not {exc.encoding}",
                       "save the file as UTF-8 (pip reads it in the locale's encoding, which "
                       "differs between machines)")  # fmt: skip
        return result
    except OSError as exc:
        missing = origin and isinstance(exc, FileNotFoundError)
        hint = "pip reads -r and -c paths from the including file's directory" if missing else None
        collector.fail(where, f"cannot read it: {exc}", hint)
        return result
    except InputError as exc:
        collector.fail(where, f"cannot read it: {exc.message.partition(': ')[2]}")
        return result
    if (odd := odd_line_break(text)) is not None:
        collector.fail(f"{path}:{odd[0]}", f"pip ends a line at the {odd[1]} here, which an "
                       "editor may show as no line end; nothing of the file was read",
                       "save the file with \\n line ends")  # fmt: skip
        return result
    lines = ((f"{path}:{number}", line) for number, line in logical_lines(text))
    return _pip_lines(lines, path, collector, (*chain, resolved), result)


def refuse_variable(collector: _Collector, where: str, tool: str, variable: str) -> None:
    """A ``${VAR}`` the file's own tool expands when it reads the file: the manifest would keep
    the letters, never the value (a token, often), so the line means something else there."""
    collector.fail(where, f"{tool} would put the environment variable {variable} here; "
                   "mlenv.toml holds no variables", "write the value; for a password, leave it "
                   "out of the URL and put it in ~/.netrc, which mlenv reads")  # fmt: skip


def _pip_lines(
    lines: Iterable[tuple[str, str]],
    path: Path,
    collector: _Collector,
    chain: tuple[Path, ...],
    result: Imported,
) -> Imported:
    """Requirement and option lines as pip reads them; ``path`` anchors relative -r paths."""
    for where, line in lines:
        if variable := re.search(r"\$\{[A-Z0-9_]+\}", line):
            refuse_variable(collector, where, "pip", variable[0])
            continue
        try:
            words = split_words(line)
        except ValueError as exc:
            problem, hint = dangling_backslash(line) or (f"cannot split the line: {exc}", None)
            collector.fail(where, problem, hint)
            continue
        if not line.startswith("-"):
            enforce(len(result.pypi) + 1, MAX_IMPORTED_REQUIREMENTS, "requirements", where=where)
            result = _requirement_line(words, line, where, collector, result)
            continue
        pairs, stray = option_pairs(words)
        if stray is not None:  # the whole line: a tab may have split a URL's password there
            collector.fail(where, f"a word follows the options in {line!r}",
                           "put it on a line of its own")  # fmt: skip
            continue
        pairs, refused = pip_order(pairs)
        if refused is not None:
            collector.fail(where, *refused)
        for option, value in pairs:  # in the order pip applies them
            result = _option(option, value, where, path, collector, chain, result)
    return result


def _option(
    option: str,
    value: str,
    where: str,
    path: Path,
    collector: _Collector,
    chain: tuple[Path, ...],
    result: Imported,
) -> Imported:
    if option in ("-r", "--requirement", "-c", "--constraint") and "://" in value:
        collector.fail(where, f"{option} {value}: mlenv reads included files from disk only",
                       "download it beside this file and include it by its path")  # fmt: skip
        return result
    if option in ("-r", "--requirement"):
        return _requirements(path.parent / value, collector, chain, result, f"{where}: -r")
    if option in ("-i", "--index-url", "--extra-index-url") and not _URL.fullmatch(value):
        collector.fail(where, f"{option} {value!r} is not an http://, https:// or file:// URL",
                       "mlenv reads indexes by URL: write the index's full URL")  # fmt: skip
        return result
    if option in ("-i", "--index-url") and collector.extras_at:
        # pip's handle_option_line: ``-i`` resets the index list, so every extra index read
        # before it is dropped; keeping them would lock from indexes pip never asks
        collector.fail(where, f"{option} here makes pip drop the --extra-index-url of "
                       f"{collector.extras_at[0]}: pip reads only {value} after it",
                       "put --index-url before every --extra-index-url (pip then reads all), "
                       "or delete the extra index pip ignores")  # fmt: skip
        return result
    if option in ("-i", "--index-url"):
        return replace(result, index_url=value)
    if option in RELEASE_CONTROLS:  # pip's pre-release rule for every project
        setting, refused = release_control(option, value, result.prerelease)
        if refused is not None:
            collector.fail(where, *refused)
        return result if refused else replace(result, prerelease=setting)
    if option in ("-c", "--constraint"):  # its requirements bound versions, never add one
        before = len(collector.read)
        sub = _requirements(path.parent / value, collector, chain, replace(result, pypi=()),
                            f"{where}: -c")  # fmt: skip
        collector.problems += constraint_extras(collector.read[before:])
        return replace(sub, pypi=result.pypi, constraints=(*sub.constraints, *sub.pypi))
    if option == "--extra-index-url":
        collector.extras_at.append(where)
        return replace(result, extra_index_urls=(*result.extra_index_urls, value))
    if option in ("-f", "--find-links"):
        # pip reads a relative directory from the requirements file's place, as mlenv does
        # from the manifest's: keep it absolute until the manifest's place is known
        # pip then expands ``~`` if that exists (SearchScope.create); mlenv.toml's reader never
        local = path.parent / value
        home = Path(os.path.expanduser(value))  # noqa: PTH111 - Path's raises on ~nobody
        if value.startswith("~") and not exists(local) and exists(home):
            local = home
        location = str(local.resolve()) if "://" not in value and exists(local) else value
        return replace(result, find_links=(*result.find_links, location))
    if option in _IGNORED:
        collector.notes.append(f"{option} is not needed: the lock chooses the exact artifacts")
        return result
    if option in ("-e", "--editable"):
        collector.fail(where, f"editable requirement {value!r} cannot be expressed",
                       "mlenv builds images from locked artifacts: build a wheel of the project "
                       "and put it in a [pypi].find-links directory")  # fmt: skip
        return result
    hint = "mlenv reads its [pypi] indexes; list only find-links directories"
    collector.fail(where, f"the option {option} cannot be expressed in mlenv.toml",
                   hint if option == "--no-index" else None)  # fmt: skip
    return result


def hashes_not_kept(stated: str, export: str) -> str:
    """The note for the hashes an imported file states: mlenv.toml has no place for expected
    hashes, so saying they are dropped is the only honest import (never silently)."""
    return (
        f"{stated} are not kept: mlenv.toml has no place for expected hashes; mlenv.lock records "
        f"the sha256 of every artifact it picks (compare with `mlenv export --format {export}`)"
    )


def _requirement_line(
    words: list[str], line: str, where: str, collector: _Collector, result: Imported
) -> Imported:
    text, options_text = option_cut(line)  # pip's break_args_options
    try:
        dashed = [w for w in split_words(options_text) if w[:1] == "-"]
    except ValueError:  # a quote opened before the options: the whole line's words
        dashed = [w for w in words if w[:1] == "-"]
    hashes = [w for w in dashed if w.startswith("--hash")]
    options = [w.partition("=")[0] if w[:2] == "--" else w[:2] for w in dashed if w not in hashes]
    if ignored := [o for o in options if o in FILE_OPTIONS]:
        # pip parses a file-wide option after a requirement and drops it (req_file.parse_line
        # keeps only --hash and --config-settings): the line would mean something else here
        collector.fail(where, f"pip ignores {ignored[0]} after a requirement: {text!r} "
                       "would come from the file's indexes", f"put {ignored[0]} on a line "
                       "of its own to apply it to the whole file, or delete it as pip "
                       "does")  # fmt: skip
        return result
    if options:
        collector.fail(where, f"per-requirement options cannot be expressed: {options[0]} in "
                       f"{line!r}", "mlenv locks built wheels and builds none: build the wheel "
                       "with that option (pip wheel), put it in a [pypi].find-links directory "
                       "and require it by name")  # fmt: skip
        return result
    if re.match(r"^(git|hg|svn|bzr)\+|^[a-z]+://|^\.{0,2}/|.*\.(whl|tar\.gz|zip)$", text):
        collector.fail(where, f"{text!r} is a URL or path, not a requirement mlenv can lock",
                       "put the wheel in a [pypi].find-links directory and require it by "
                       "name")  # fmt: skip
        return result
    try:
        requirement = parsed_requirement(text)
    except InvalidRequirement as exc:
        said = str(exc).splitlines()[0]
        collector.fail(where, f"not a PEP 508 requirement: {said}",
                       _LOCAL_RANGE_HINT if "Local version label" in said else None)  # fmt: skip
        return result
    if requirement.url:
        kind = "a VCS" if re.match(r"^(git|hg|svn|bzr)\+", requirement.url) else "a direct URL"
        collector.fail(
            where,
            f"{requirement.name} comes from {kind} ({requirement.url}), which mlenv cannot lock",
            "publish a wheel to an index or a [pypi].find-links directory and require it by name",
        )
        return result
    if hashes:
        pinned = any(s.operator in ("==", "===") for s in requirement.specifier)
        if not pinned:
            collector.fail(where, f"{text!r} has --hash but no == pin", "pin it with ==")
            return result
        collector.notes.append(
            hashes_not_kept("--hash pins are kept as == pins, their hashes", "requirements")
        )
    collector.read.append((where, requirement))
    return replace(result, pypi=(*result.pypi, squeeze(text)))


# ---------------------------------------------------------------------------------------------
# pyproject.toml and pylock.toml


def _read_text(path: Path) -> str:
    """The file the user named (``userfiles.read_input``: a symlink to it is fine, a FIFO or
    a device such as ``/dev/zero`` or ``/dev/stdin`` is not)."""
    return decode_text(read_input(path, "imported file"))


def _read_include(path: Path, roots: Sequence[Path]) -> str:
    """A ``-r`` include: only a plain file inside one of ``roots``, reached without a symlink
    below it, so a hostile requirements file cannot read (and echo in errors) ``~/.netrc`` or
    ``/etc/shadow`` (security invariants 5 and 7)."""
    target = Path(os.path.normpath(path.absolute()))
    for root in roots:
        if target.is_relative_to(root) and target != root:
            with open_plain(root, target.relative_to(root).as_posix()) as handle:
                return decode_text(read_handle(handle, path, "imported file"))
    raise OSError(
        errno.EACCES, f"-r leads outside {' and '.join(map(str, roots))}; copy the file there"
    )


def _read(path: Path, parse: Callable[[str], Any], errors: tuple[type[Exception], ...]) -> Any:
    """The parsed file; an unreadable or malformed one is an error naming it."""
    caught: tuple[type[Exception], ...] = (OSError, UnicodeDecodeError, *errors)
    try:
        return parse(_read_text(path))
    except RecursionError:  # tomllib and PyYAML recurse once per level of nesting
        raise ImportFileError(
            f"{path}: cannot be read",
            [Problem(str(path), "nested too deeply to be read", "no real file nests like this")],
        ) from None
    except InputError as exc:
        raise ImportFileError(
            f"{path}: cannot be read", [Problem(str(path), exc.message, exc.hint)]
        ) from None
    except caught as exc:
        hint = exc.hint if isinstance(exc, HintedError) else "check the file"
        raise ImportFileError(
            f"{path}: cannot be read", [Problem(str(path), str(exc), hint)]
        ) from None


def _toml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = _read(path, parse_toml_hinted, (tomllib.TOMLDecodeError, HintedError))
    return data
