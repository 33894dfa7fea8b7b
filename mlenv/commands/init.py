"""The init use case: a commented starter mlenv.toml, or one holding what an environment.yml,
requirements file, pyproject.toml or conda-lock.yml (``--from``) requires."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlenv.commands.lock import MANIFEST_FILE
from mlenv.commands.session import Session
from mlenv.errors import UsageError
from mlenv.manifest_read import loads
from mlenv.templates import starter_manifest

if TYPE_CHECKING:
    from mlenv.importers.core import Imported


@dataclass(frozen=True)
class InitRequest:
    """What ``mlenv init`` was asked for (see its options)."""

    name: str | None
    python: str
    python_given: bool  # --python on the command line, not its default
    from_file: Path | None
    groups: tuple[str, ...]
    cuda: str | None
    driver_floor: str | None
    force: bool


def init_manifest(session: Session, request: InitRequest) -> None:
    """Write the manifest, refused over an existing one unless ``force``."""
    path = session.manifest_path
    if path.exists() and not request.force:
        raise UsageError(
            "a manifest already exists; nothing was written",
            where=str(path),
            hint="pass --force to replace it",
        )
    name = request.name or path.resolve().parent.name
    if request.from_file is not None or request.cuda or request.driver_floor:
        text = _imported_manifest(session, name, request)
    else:
        text = starter_manifest(name, request.python)
    loads(text, source=str(path))  # the starter must always be valid
    session.write_file(path, text.encode(), MANIFEST_FILE)
    session.reporter.info(f"wrote {path}")


def _imported_manifest(session: Session, name: str, request: InitRequest) -> str:
    """The manifest for `init --from`; the CUDA target from flags or guessed (and said so)."""
    python, python_given, from_file = request.python, request.python_given, request.from_file
    groups, cuda, driver_floor = request.groups, request.cuda, request.driver_floor
    from mlenv.cuda.matrix import min_driver
    from mlenv.cuda.versions import CudaVersion, DriverVersion
    from mlenv.importers.core import Imported
    from mlenv.importers.files import import_file
    from mlenv.importers.manifest import guess_cuda, manifest_text

    imported = (
        Imported()
        if from_file is None
        else import_file(from_file, groups, session.manifest_path.absolute().parent)
    )
    _check_python_built(imported, from_file)
    if request.name is None and imported.name:  # the project's name, not its directory's
        name = imported.name
    if imported.python is not None and not python_given:
        python = imported.python  # the file names its Python
    elif imported.python not in (None, python):
        raise UsageError(
            f"{from_file} pins Python {imported.python}, but --python says {python}; "
            "nothing was written",
            where="--python",
            hint=f"drop --python, or change the file's python pin to {python}",
        )
    chosen = python_given or imported.python is not None  # by the user, or the file's pin
    python, picked = _python_in_range(python, imported.python_range, given=chosen)
    for note in (*imported.notes, *picked):
        session.reporter.info(f"note: {note}")
    target = None
    if cuda is not None:
        version = CudaVersion.parse(cuda, where="--cuda")
        floor = driver_floor or str(min_driver(version))
        target = (str(version), str(DriverVersion.parse(floor, where="--driver-floor")))
    elif driver_floor is not None:
        raise UsageError("--driver-floor needs --cuda", hint="pass --cuda X.Y as well")
    elif (guess := guess_cuda(imported)) is not None:
        target = (guess.version, guess.driver_floor)
        why = guess.floor_because or f"the minimum for CUDA {guess.version}"
        session.reporter.info(
            f"guessed CUDA {guess.version} from {guess.because}; driver floor "
            f"{guess.driver_floor} ({why}); "
            "pass --cuda/--driver-floor to choose"
        )
    source = str(session.manifest_path)
    if from_file is not None:  # a problem left in what was imported names the file it came from
        source = f"{source} (not written; imported from {from_file})"
    base = session.manifest_path.absolute().parent
    return manifest_text(imported, name=name, python=python, cuda=target, source=source, base=base)


def _check_python_built(imported: Imported, from_file: Path | None) -> None:
    """A Python the file pins that mlenv builds for none of (python=3.8.5): named at the
    file's entry, not at the manifest that would hold it; --python cannot override a pin."""
    from mlenv.manifest import PYTHON_MINORS

    if imported.python is None or imported.python in PYTHON_MINORS:
        return
    where = imported.python_range[0] if imported.python_range else str(from_file)
    raise UsageError(
        f"{from_file} pins Python {imported.python}, which mlenv does not build for; "
        "nothing was written",
        where=where,
        hint=f"change the file's python pin to one of {', '.join(PYTHON_MINORS)}",
    )


def _python_in_range(
    python: str, named: tuple[str, str] | None, *, given: bool
) -> tuple[str, tuple[str, ...]]:
    """The manifest's Python must be one the file allows (``python>=3.12``, requires-python):
    a manifest for 3.11 from a file that needs 3.12 cannot be locked, or runs the wrong Python.
    When --python was not passed, the oldest Python mlenv builds that the file allows is taken
    in place of the default (as uv picks an interpreter satisfying requires-python), with a
    note; a --python the user passed that the file excludes is refused."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from mlenv.manifest import PYTHON_MINORS

    if named is None:
        return python, ()
    where, text = named
    try:
        allowed = SpecifierSet(text.replace(" ", ""))
    except InvalidSpecifier:
        return python, ()  # conda's own syntax (3.10.*|3.11.*): the lock judges it

    def allows(minor: str) -> bool:
        return any(allowed.contains(f"{minor}.{patch}", prereleases=True) for patch in (0, 99))

    if allows(python):
        return python, ()
    # the oldest that fits, as a requires-python floor means: the newest minors are the last
    # to get CUDA wheels
    fits = [minor for minor in PYTHON_MINORS if allows(minor)]
    if fits and not given:
        note = (f"{where}: {text} excludes the default Python {python}; the manifest is for "
                f"Python {fits[0]}, the oldest the file allows ({', '.join(fits)} fit): pass "
                "--python to choose")  # fmt: skip
        return fits[0], (note,)
    raise UsageError(
        f"the manifest's Python {python} is outside what the file allows ({text}); "
        "nothing was written",
        where=where,
        hint=f"pass --python {fits[0]}, the oldest Python the file allows ({', '.join(fits)} fit)"
        if fits
        else f"change the file's Python range: mlenv builds {', '.join(PYTHON_MINORS)}",
    )
