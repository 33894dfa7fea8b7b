"""``[pypi] sources``: projects pinned to an index of their own (uv's explicit index).

``sources = { torch = "https://download.pytorch.org/whl/cu128" }`` takes torch only from that
index, never from ``index-url``, ``extra-index-urls`` or ``find-links``, and that index serves
no other project (``index.group.IndexGroup``). This is the usual GPU setup: torch's CUDA build
from PyTorch's index, everything else from PyPI, with no chance that PyTorch's copy of numpy
(or a package it never vetted) is taken instead.

Light (the standard library and ``redaction``): the manifest reader and the inputs hash use it.
Names are PEP 503-normalised; the pairs are kept sorted by name, so spellings and order in
mlenv.toml do not change the hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from mlenv.names import PROJECT_NAME
from mlenv.redaction import redact_urls

Sources = tuple[tuple[str, str], ...]  # (PEP 503 name, index URL), sorted by name

_KEY = "pypi.sources"

# (key path, message, hint): how the manifest's checker reports a problem
Report = Callable[[str, str, str | None], None]


def normalise(name: str) -> str:
    """PEP 503: runs of '-', '_' and '.' are one '-', and case does not count."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_sources(
    value: object,
    *,
    report: Report,
    valid_url: Callable[[str], str | None],
    general: Iterable[str],
    direct: Iterable[str],
) -> Sources:
    """The ``[pypi] sources`` table, checked; every problem reported under its key.

    ``general`` are index-url, extra-index-urls and find-links: a source index listed there
    too would serve every project, which is what a source rules out. ``direct`` are the names of
    requirements that carry their own URL: such a project comes from no index at all."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        report(_KEY, "expected a table of project = index URL",
               'e.g. sources = { torch = "https://download.pytorch.org/whl/cu128" }')  # fmt: skip
        return ()
    shared = {index_key(url) for url in general}
    urls_of = {normalise(name) for name in direct}
    found: dict[str, str] = {}
    for name, url in value.items():
        key = f"{_KEY}.{name}"
        if not PROJECT_NAME.fullmatch(name):
            report(key, f"{name!r} is not a project name",
                   "use the distribution's name as PyPI spells it, e.g. torch")  # fmt: skip
            continue
        if not isinstance(url, str):
            report(key, f"expected an index URL string, got {type(url).__name__}", None)
            continue
        if (message := valid_url(url)) is not None:
            report(key, f"{redact_urls(url)!r} is not valid: {message}", None)
            continue
        project = normalise(name)
        if project in found:
            report(key, f"{project!r} has more than one source (names compare PEP 503-normalised)",
                   "give each project one source")  # fmt: skip
            continue
        if index_key(url) in shared:
            report(
                key,
                f"{redact_urls(url)} is also in index-url, extra-index-urls or find-links, where "
                "it serves every project",
                "list it in one place: in sources to serve only the projects named there, or "
                "among the indexes to serve all",
            )
            continue
        if project in urls_of:
            report(key, f"{project} is also a direct URL requirement, which names its own file",
                   "drop the source or the URL")  # fmt: skip
            continue
        found[project] = lower_scheme(url)
    return tuple(sorted(found.items()))


_SCHEME = re.compile(r"(?i:https?|file)(?=://)")


def lower_scheme(url: str) -> str:
    """``url`` with an http, https or file scheme in lower case (``HTTP://h/simple`` is
    ``http://h/simple``): a scheme's case does not count (RFC 3986 3.1), and the lock and the
    inputs hash record one spelling. Anything else (a directory path) is returned as it is."""
    found = _SCHEME.match(url)
    return url if found is None else found[0].lower() + url[found.end() :]


def index_key(url: str) -> str:
    """One index however it is spelled: without credentials (a token on one spelling, netrc
    for the other), scheme and host in lower case, no trailing '/'. Importers compare indexes
    by it too, so they judge 'the same index' as the manifest's reader does."""
    if "://" not in url:
        return url.rstrip("/")
    scheme, rest = url.split("://", 1)
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2].lower()
    return f"{scheme.lower()}://{host}{slash}{path}".rstrip("/")


def source_urls(sources: Sources) -> tuple[str, ...]:
    """The distinct source indexes, each once, in the order of the names they serve."""
    return tuple(dict.fromkeys(url for _, url in sources))


def hashed(sources: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The sources as the inputs hash and ``show --json`` hold them: credentials masked."""
    return {name: redact_urls(url) for name, url in sorted(sources)}
