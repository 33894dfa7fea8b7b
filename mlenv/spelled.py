"""The manifest's version values as other tools and habits spell them (PyTorch's ``cu128``,
pixi's ``py311``, nvidia-smi's ``CUDA Version: 12.8``, an unquoted TOML number), turned into
the one spelling mlenv takes for a "did you mean" hint. Never taken silently: a value is the
manifest's text, hashed into the lock, so the user writes the fix."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from mlenv.lazy_pattern import LazyPattern

# cu128, cuda12.8, CUDA 12.8, v12.8, 12.8.1, 12.04, "12.8 ": a prefix, a major and a minor
_CUDA_SPELLED = LazyPattern(r"(?:cuda|cu|v)?[\s_-]*([1-9][0-9]?)\.([0-9]{1,2})(?:\.[0-9]+)*")
_CUDA_COMPACT = LazyPattern(r"(?:cuda|cu)[\s_-]*([1-9][0-9])([0-9])")  # PyTorch's cu128, cu130
_CUDA_MAJOR = LazyPattern(r"(?:cuda|cu|v)?[\s_-]*([1-9][0-9]?)(?:\.x|\.\*)?")
# py311, cp311, python3.11, >=3.11, ==3.11.*, ~=3.11.0, 3.11.7, 311 (blanks taken whole: two
# runs of them beside each other split 10,000 blanks every way)
_PYTHON_SPELLED = LazyPattern(
    r"(?:python|cpython|py|cp)?\s*+(?:[<>=~^]=?|==)?\s*+3\.?([0-9]{1,2})(?:\.[0-9]+|\.\*)*"
)


def cuda_version(value: str) -> str | None:
    """The major.minor a CUDA spelling means, as a hint ("12.8" for cu128 or 12.8.1)."""
    text = value.strip().lower()
    if match := _CUDA_SPELLED.fullmatch(text) or _CUDA_COMPACT.fullmatch(text):
        spelled = f"{int(match[1])}.{int(match[2])}"
        return f'did you mean "{spelled}"? mlenv takes CUDA as major.minor (an update is one)'
    if match := _CUDA_MAJOR.fullmatch(text):
        from mlenv.cuda.matrix import known_hint

        known = known_hint(int(match[1]))
        return f"CUDA {match[1]} is a major version: write major.minor ({known})"
    return None


def python_version(value: str, minors: tuple[str, ...]) -> str | None:
    """The CPython minor a requirement, tag or patch spelling names, as a hint."""
    if value.strip() == "3.1" and "3.10" in minors:  # the unquoted 3.10, copied as TOML read it
        return 'did you mean "3.10"? (an unquoted 3.10 is the number 3.1)'
    if re.fullmatch(r"3\.[0-9]+\.[0-9]+", value):  # the reader's message names the minor
        return None
    match = _PYTHON_SPELLED.fullmatch(value.strip().lower())
    if match is None or f"3.{int(match[1])}" not in minors:
        return None
    return (
        f'did you mean "3.{int(match[1])}"? The target is one CPython minor version, '
        "not a range, tag or patch release"
    )


def quoted(key: str, value: int | float, valid: Callable[[str], str | None] | None) -> str:
    """How to quote a version TOML read as a number. A float may have lost a trailing zero
    (3.10 is 3.1, 12.10 is 12.1), so both spellings the key takes are offered, never only the
    shortened one: copying ``"12.1"`` from a hint would pick another CUDA. An array's item
    (``archs[0]``) is written as the string alone."""
    text = str(value)
    lossy = isinstance(value, float) and re.fullmatch(r"[0-9]+\.[0-9]", text) is not None
    spellings = [text, f"{text}0"] if lossy else [text]
    fitting = [spelled for spelled in spellings if valid is None or valid(spelled) is None]
    if not fitting:
        wanted = valid(text) if valid is not None else None
        return f"TOML reads the unquoted {text} as a number; {wanted}"
    assigned = "" if key.endswith("]") else f"{key} = "
    written = " or ".join(f'{assigned}"{spelled}"' for spelled in fitting)
    lost = f" (TOML reads {text}0 as {text} too)" if lossy else ""
    return f"put the value in quotes as you meant it: {written}{lost}"


# pip's requirements-file options, as a requirements.txt line copied into a dependency
_PIP_OPTIONS = {
    "-i": "the index goes in [pypi].index-url",
    "--index-url": "the index goes in [pypi].index-url",
    "--extra-index-url": "the index goes in [pypi].extra-index-urls",
    "-f": "the location goes in [pypi].find-links",
    "--find-links": "the location goes in [pypi].find-links",
    "-c": "list the constraints themselves in [pypi].constraints",
    "--constraint": "list the constraints themselves in [pypi].constraints",
    "-r": "start a manifest from the file with `mlenv init --from requirements.txt`",
    "--requirement": "start a manifest from the file with `mlenv init --from requirements.txt`",
    "--pre": 'pre-releases are [pypi].prerelease = "allow"',
}
_LOCAL_BUILD = (
    "mlenv locks published distributions only: build a wheel (pip wheel . -w wheels), list "
    "its directory in [pypi].find-links and depend on the project by name"
)
_POETRY = LazyPattern(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*((?:\^|~(?!=))\s*[0-9][0-9.*]*)\s*")
_ARCHIVE = LazyPattern(r".*\.(?:whl|tar\.gz|zip)", re.IGNORECASE)
_STAR = LazyPattern(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s+\*\s*")  # pixi's "any version"
_MATCH_SPEC = LazyPattern(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s+([0-9][0-9.]*(?:\.\*)?)\s*")


def requirement_line(spec: str, parses: Callable[[str], bool]) -> str | None:
    """The fix for a requirement written as pip, pixi or conda write one (``parses`` tells a
    PEP 508 requirement), None if it is not such a spelling."""
    words = spec.split()
    option = words[0].partition("=")[0] if words else ""
    if option in _PIP_OPTIONS:
        return f"{option} is a pip option, not a requirement: {_PIP_OPTIONS[option]}"
    if option in ("-e", "--editable") or spec.strip() in (".", ".."):
        return f"an editable or local project is not a requirement: {_LOCAL_BUILD}"
    for head, why in (
        (_before_hashes(spec), "mlenv.lock records every file's sha256 itself"),
        (spec.partition("#")[0].rstrip() if "#" in spec else None,
         "a TOML comment goes after the closing quote"),
    ):  # fmt: skip
        if head is not None and parses(head):
            return f'did you mean "{head}"? {why}'
    if match := _STAR.fullmatch(spec):
        return f'did you mean "{match[1]}"? PEP 508 writes any version as the name alone'
    if match := _POETRY.fullmatch(spec):
        return f"did you mean {_listed(match[1], match[2], False)}? That is Poetry's range"
    if match := _MATCH_SPEC.fullmatch(spec):
        return f'did you mean "{match[1]}=={match[2]}"? That is a conda MatchSpec ([conda])'
    head, semicolon, marker = spec.partition(";")
    if semicolon and parses(head):
        return _marker_fix(marker)
    if "://" in spec or spec.startswith(("/", "./", "../", "~")) or _ARCHIVE.fullmatch(spec):
        return f"a URL, VCS link or path is not a requirement: {wheel_pin(spec)}"
    return None


def _before_hashes(spec: str) -> str | None:
    """``spec`` without the pip ``--hash`` options that end it (``--hash=sha256:X``, ``--hash
    X``), None if none does. Read word by word from the end: a pattern for "a head, then
    blanks and options" tried every split of a long run of blanks (quadratic)."""
    words = list(re.finditer(r"\S+", spec))
    kept = len(words)
    while kept > 1:
        if words[kept - 1][0].startswith("--hash=") and len(words[kept - 1][0]) > 7:
            kept -= 1
        elif kept > 2 and words[kept - 2][0] == "--hash":
            kept -= 2
        else:
            break
    head = spec[: words[kept - 1].end()] if 0 < kept < len(words) else None
    return head if head is not None and "#" not in head else None


# PEP 508's marker variables (the deprecated dotted ones aside)
_MARKER_VARIABLES = (
    "python_version", "python_full_version", "sys_platform", "platform_machine",
    "platform_system", "platform_release", "os_name", "implementation_name",
    "platform_python_implementation", "extra",
)  # fmt: skip


def _marker_fix(marker: str) -> str:
    """The fix for a marker that does not parse: its first unknown variable's nearest one."""
    words = re.findall(r"(?<![\"'\w])[A-Za-z_][A-Za-z0-9_.]*(?![\"'\w])", marker)
    unknown = [
        w for w in words if w not in _MARKER_VARIABLES and w not in ("and", "or", "in", "not")
    ]
    close = nearest(unknown[0], _MARKER_VARIABLES) if unknown else None
    meant = f'did you mean "{close}" for "{unknown[0]}"? ' if close else ""
    some = ", ".join(_MARKER_VARIABLES[:4])
    return f"{meant}the marker after ';' compares PEP 508 variables ({some}...) with quoted values"


def wheel_pin(spec: str) -> str:
    """For a wheel's URL or path, the pin that takes it from find-links."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        name, version, _, _ = parse_wheel_filename(spec.rsplit("/", 1)[-1])
    except InvalidWheelFilename:
        return _LOCAL_BUILD
    return f'put the wheel\'s directory in [pypi].find-links and write "{name}=={version}"'


def table_as_list(key: str, table: Mapping[str, object], *, conda: bool) -> str:
    """A pixi, Poetry or Cargo-style table of ``name = "spec"`` written as mlenv's list: a PyPI
    spec as Poetry means it (``^1.26`` is ``>=1.26,<2.0.0``), a conda one as a MatchSpec."""
    if not table or not all(isinstance(spec, str) for spec in table.values()):
        return f'write an array of requirement strings: {key} = ["numpy>=1.26"]'
    items = [_listed(name, str(spec).strip(), conda) for name, spec in list(table.items())[:3]]
    more = ", ..." if len(table) > 3 else ""
    return f"write an array of requirement strings, not a table: {key} = [{', '.join(items)}{more}]"


def _listed(name: str, spec: str, conda: bool) -> str:
    from mlenv.importers.poetry_constraints import PoetryConstraintError, translate

    if spec in ("", "*"):
        return f'"{name}"'
    if conda:
        return f'"{name} {spec}"'
    try:
        return f'"{name}{translate(spec)}"'
    except PoetryConstraintError:
        return f'"{name}<a PEP 440 range for {spec}>"'


def nearest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate a typo most likely meant: one spelled alike but for case and ``_``/``-``
    (Index_URL, [CUDA]), a unique prefix match, else the closest spelling."""
    folded = {_fold(c): c for c in candidates}
    if _fold(word) in folded:
        return folded[_fold(word)]
    prefixed = [c for c in candidates if word and c.startswith(word)]
    if len(prefixed) == 1:
        return prefixed[0]
    import difflib  # only a manifest with a typo needs it

    close = difflib.get_close_matches(_fold(word), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def _fold(word: str) -> str:
    return word.lower().replace("_", "-")


def tool_choice(value: str, mapped: Mapping[str, str | None], default: str) -> str | None:
    """uv's, pixi's or Docker's name for a choice (``unsafe-best-match``, ``docker``) as mlenv's;
    None in ``mapped`` is mlenv's default. Said instead of the nearest spelling, which for
    ``unsafe-first-match`` is ``best-match``, another rule."""
    if value in mapped:
        return f'"{value}" is another tool\'s name: mlenv\'s is "{mapped[value] or default}"'
    if value in _NO_EQUIVALENT:
        return _NO_EQUIVALENT[value]
    return None


# Docker's words for the image the "oci" output writes (its dist/image.tar is `docker load`'s)
IMAGE_OUTPUTS: dict[str, str | None] = {"docker": "oci", "oci-image": "oci", "image": "oci"}
_NO_EQUIVALENT = {
    "unsafe-first-match": (
        "uv's unsafe-first-match has no mlenv equivalent: first-index takes a project from the "
        "first index that has it, best-match compares every index"
    ),
    "explicit": (
        "uv's explicit has no mlenv equivalent: allow takes pre-releases, fallback (the "
        "default) one only where no final release fits"
    ),
}


_CHANNEL_OPTION = LazyPattern(r"\s*(?:-c|--channel)(?:\s+|=)(\S+)\s*")


def conda_channel(value: str) -> str | None:
    """A channel typed as conda's ``-c NAME`` option (no channel or directory is named so)."""
    if match := _CHANNEL_OPTION.fullmatch(value):
        return f'that is conda\'s option: write the channel alone, "{match[1]}"'
    return None


# a package file (``/tmp/x-1-0.conda``, ``file:`` or ``https:``) or a ``url=`` key: rattler
# reads such a spec from that place itself, judged by no channel rule nor mlenv's HTTP client
# (a ``#md5`` or ``?query`` after it too, which rattler reads past)
_CONDA_DIRECT = LazyPattern(
    r".*\.(?:conda|tar\.bz2)(?:[#?\s].*)?|.*[\[,]\s*url\s*=.*", re.IGNORECASE | re.DOTALL
)


def conda_line(value: str) -> str | None:
    """An environment.yml line copied with its YAML around it: no MatchSpec, and rattler's
    error at lock time would not say so. A package named by its file or URL is none either:
    rattler would read that place, which no channel rule judges (``/tmp`` is anyone's)."""
    if _CONDA_DIRECT.fullmatch(value):
        return (
            "names a package file or URL, which rattler reads unjudged by mlenv's channel "
            "rules: put the package in a local channel of your own and require it by name"
        )
    if value.rstrip().endswith(":"):
        return "an environment.yml section, not a MatchSpec: pip packages go in [pypi].dependencies"
    if value.startswith("-"):
        return f'"- " is YAML\'s list marker: write "{value.lstrip("- ").strip()}"'
    return None


# PEP 600's and the legacy manylinux tags (PEP 599, 571, 513) and glibc's own spellings
_LEGACY_MANYLINUX = {"manylinux2014": "2.17", "manylinux2010": "2.12", "manylinux1": "2.5"}
_GLIBC_SPELLED = LazyPattern(r"(?:manylinux|glibc)?[\s_-]*2[._]([0-9]{1,2})(?:[._][0-9]+)*")


def glibc_version(value: str) -> str | None:
    """The glibc a wheel tag or another spelling names, as a hint ("2.17" for manylinux2014)."""
    text = re.sub(r"_(?:x86_64|aarch64)$", "", value.strip().lower())
    match = _GLIBC_SPELLED.fullmatch(text)
    meant = _LEGACY_MANYLINUX.get(text) or (f"2.{int(match[1])}" if match else None)
    if meant is None or meant == value or int(meant[2:]) < 17:  # the message says the rest
        return None
    return f'did you mean "{meant}"? mlenv takes the glibc version itself'
