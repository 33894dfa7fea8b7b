"""One conda package as the solver returns it, the lock stores it and the installer takes it,
and the URL form that may be stored (no credentials).

Light on purpose: the lock reader (and with it the no-op ``lock --check``) imports it."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from mlenv.errors import MlenvError
from mlenv.lazy_pattern import LazyPattern


class CondaError(MlenvError):
    """A conda channel, spec, lock entry or install that mlenv cannot use."""


@dataclass(frozen=True)
class CondaRecord:
    """One conda package from a channel: what the solver returns, the lock stores (these fields,
    in this order, are its ``[[platform.NAME.conda]]`` keys) and the installer takes.

    ``cuda`` is the CUDA label it needs; ``requires_driver`` the driver floor that follows,
    which only the locker fills in. ``md5`` is kept because conda tools still check it. URLs
    never carry credentials.
    """

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    channel: str
    url: str
    filename: str
    sha256: str
    md5: str
    size: int
    depends: tuple[str, ...] = ()
    constrains: tuple[str, ...] = ()
    noarch: str | None = None
    cuda: str | None = None
    requires_driver: str | None = None

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


# A conda match spec's name: after an optional "channel::", up to a space or an operator. A
# channel may be a URL (``https://conda.anaconda.org/conda-forge::numpy``, which rattler solves):
# it runs to the last "::" before a blank or a bracket, where the name was read as "https".
_SPEC_NAME = LazyPattern(r"(?:[^\s\[]*::)?(?P<name>[A-Za-z0-9_.\-]+)")


def match_spec_name(spec: str) -> str | None:
    """The package a conda match spec is about, as written; None when it names none."""
    match = _SPEC_NAME.match(spec.strip())
    return match["name"] if match else None


def conda_name(name: str) -> str:
    """A conda package name as conda and rattler compare names: case folded only. ``_``, ``-``
    and ``.`` stay apart, unlike PEP 503: conda-forge's ``typing-extensions`` is a metapackage
    depending on ``typing_extensions``, another package."""
    return name.lower()


def spec_conda_name(spec: str) -> str:
    """The package a conda match spec is about, as names are compared (``conda_name``): a
    mirror's repodata may depend on ``Pytorch-CUDA``, which rattler solves as ``pytorch-cuda``;
    "" when the spec names none."""
    return conda_name(match_spec_name(spec) or "")


# A bracketed key's value (``[version='>=12.4', build=*]``): quoted, or up to a comma or ']'.
_BRACKET_KEY = LazyPattern(
    r"""(?P<key>\w+)\s*=\s*(?:'(?P<s>[^']*)'|"(?P<d>[^"]*)"|(?P<b>[^,\]]*))"""
)
# Blanks rattler drops from a version spec: after an operator (``>= 12.4``) and around the ``,``
# and ``|`` that join constraints (``>=12.4 , <13``); a blank anywhere else parts version and build.
_SPEC_BLANKS = LazyPattern(r"[ \t]*([,|])[ \t]*|([<>=!~]=?)[ \t]+")


def match_spec_text(spec: str) -> str:
    """``name version`` as rattler reads a conda match spec: no ``channel::`` before the name,
    no blank after an operator or around ``,`` and ``|`` (``>= 12.4, < 13`` is ``>=12.4,<13``),
    and a bracketed ``version=`` (``cuda-version[version='>=12.4']``) as the version, which
    rattler takes over one written before the bracket. A spec in another shape comes back
    stripped, as written."""
    text = spec.strip()
    match = _SPEC_NAME.match(text)
    if match is None:
        return text
    rest = _ungrouped(_SPEC_BLANKS.sub(_joined, text[match.end() :]))
    if "[" not in rest:
        return f"{match['name']}{rest}"
    rest, _, bracket = rest.partition("[")
    for key in _BRACKET_KEY.finditer(bracket):
        if key["key"] == "version":
            rest = " " + next(
                value for value in (key["s"], key["d"], key["b"]) if value is not None
            )
    return f"{match['name']}{rest}".strip()


def _joined(blanks: re.Match[str]) -> str:
    return blanks[1] or blanks[2]


# The version's token in what follows a spec's name: blanks, the token, the rest (a build).
_VERSION_TOKEN = LazyPattern(r"(?P<lead>[ \t]*)(?P<version>[^\s\[]*)(?P<rest>.*)", re.DOTALL)


def _ungrouped(rest: str) -> str:
    """``rest`` with the parentheses of its version dropped where they group nothing rattler
    reads apart (``(>=12.4,<13)`` is ``>=12.4,<13``, ``(12.4)|(11.8)`` is ``12.4|11.8``):
    balanced, around constraints joined by ``,`` alone or ``|`` alone. A version mixing both
    keeps them, as rattler does (``(>=12|<11),<13``)."""
    parts = _VERSION_TOKEN.match(rest)
    assert parts is not None  # every part may be empty
    version = parts["version"]
    if "(" not in version or ("," in version and "|" in version):
        return rest
    bare = version.replace("(", "").replace(")", "")
    if not bare or not _balanced(version):
        return rest
    return f"{parts['lead']}{bare}{parts['rest']}"


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


# A conda python of another ABI than CPython's default: a free-threaded CPython (PEP 703),
# which conda-forge builds as ``*_cp313t`` and pins through ``python_abi 3.13.* *_cp313t``, or
# PyPy (``*_73_pypy``, ``python_abi 3.10.* *_pypy310_pp73``).
_OTHER_ABI = LazyPattern(r"(?<![A-Za-z0-9])(?:cp3[0-9]+t|pypy[0-9]*(?:_pp[0-9]+)?)(?![A-Za-z0-9])")


def other_abi(record: CondaRecord) -> str | None:
    """The ABI tag (``cp313t``, ``pypy310_pp73``) when a conda python is not a default CPython
    build, from its build string or its ``python_abi`` dependency; None for the default ABI."""
    abi = [spec for spec in record.depends if spec_conda_name(spec) == "python_abi"]
    for text in (*abi, record.build):
        if found := _OTHER_ABI.search(text):
            return found[0]
    return None


def public_url(url: str) -> str:
    """The URL without user:password@ or a web URL's leading anaconda.org ``/t/<token>``
    segment (a directory ``file:///t/x/chan`` was recorded as ``file:///chan``). A
    channel's directory (no scheme) is itself: a '#' or '?' there is part of its name, and the
    lock recorded ``./ch#1`` as ``./ch``, which every later command took as another channel."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    path = _untokened(parts.path) if parts.scheme.lower() in _WEB else parts.path
    return urlunsplit((parts.scheme, netloc, path, "", ""))


# Schemes whose channels carry an anaconda.org ``/t/<token>`` (its servers are web servers): an
# s3, gcs, oci or ftp path is kept as written, ``s3://bucket/t/x/chan`` names its ``t`` folder.
_WEB = ("http", "https")


def token_respelt(channel: str) -> str | None:
    """Why a web channel names a ``..`` after its ``t`` segment, or None: rattler reads
    ``/t/X/../chan`` as ``/t/chan``, sending ``chan`` as the token and ``X`` nowhere."""
    parts = urlsplit(channel) if "://" in channel else None
    if parts is None or parts.scheme.lower() not in _WEB:
        return None
    names = [unquote(name) for name in parts.path.split("/")[1:]]
    if "t" not in names or ".." not in names[names.index("t") :]:
        return None
    return (
        f"the channel {public_url(channel)} has a '..' after its 't' (token) segment, which "
        "rattler resolves into another token: write https://HOST/t/TOKEN/CHANNEL"
    )


def path_token(path: str) -> int | None:
    """Where in ``path.split("/")`` the name a URL's ``path`` sends as an anaconda.org token
    stands, as rattler resolves it (``/x/../t/X``, ``/%74/X``); None when it sends none."""
    return _token_at(_indexed_names(path))


def _token_at(names: list[tuple[int, str]]) -> int | None:
    """``path_token`` of a path's resolved ``names`` (``_indexed_names``)."""
    return names[1][0] if len(names) >= 2 and unquote(names[0][1]) == "t" else None


def _untokened(path: str) -> str:
    """``path`` without the token of a leading ``/t/<token>``, found where a URL parser finds
    it, after empty names, ``.`` and ``..`` (``//t/X``, ``/./t/X``, ``/x/../t/X``): rattler
    sends ``/./t/X/chan`` as ``/t/X/chan``, and the lock kept the token."""
    indexed = _indexed_names(path)
    if _token_at(indexed) is None:
        return path
    names = [name for _, name in indexed]
    rest, tail = "/".join(names[2:]), "/" if path.endswith("/") else ""
    return f"/{rest}{tail}" if rest else tail


def _names(path: str) -> list[str]:
    """The names of a URL's absolute ``path`` as a URL parser resolves them, which is how
    rattler reads a channel (``/x/../chan``, ``/x/%2e%2e/chan`` and ``/chan//..`` are
    ``/chan`` to it, a directory's ``..`` too, links or not), empty names dropped after."""
    return [name for _, name in _indexed_names(path)]


def _indexed_names(path: str) -> list[tuple[int, str]]:
    """``_names``, each with where it stands in ``path.split("/")``."""
    names: list[tuple[int, str]] = []
    for index, name in enumerate(path.split("/")[1:], start=1):
        dots = unquote(name)
        if dots == "..":
            names = names[:-1]
        elif dots != ".":
            names.append((index, name))
    return [(index, name) for index, name in names if name]


def channel_key(channel: str) -> str:
    """``channel`` (a record's) as channels are compared like with like: a URL by its origin
    (``origins.origin``: scheme and host in any case, a default port written or not, a host's
    trailing dot, which names the same DNS host), no credentials, and its path's names as
    rattler's URL parser resolves them (``_names``), escapes read; a directory as rattler
    reads it, by ``posixpath.normpath``. The relock byte rule keyed by spelling let
    ``HTTPS://Mirror.Example/chan`` serve other bytes for a file the lock had pinned from
    ``https://mirror.example/chan``, and ``https://mirror.example/x/../chan`` or ``//chan``
    likewise. A spelling read as one channel that a server may serve apart (``a%2Fb``) only
    holds a file to the bytes pinned, never lets other bytes through."""
    channel = public_url(channel)
    parts = urlsplit(channel)
    path = unquote("".join(f"/{name}" for name in _names(parts.path)))
    if parts.scheme.lower() == "file" and parts.netloc.lower() in ("", "localhost"):
        return f"file://:0{path}"  # RFC 8089: file:/p, file:///p, file://localhost/p
    if "://" in channel:
        from mlenv.net.origins import origin

        scheme, host, port = origin(channel)
        return f"{scheme}://{host.rstrip('.')}:{port}{path}"
    if not channel.startswith("/"):
        return channel  # a relative directory, as the manifest spells it
    # rattler reads a directory as a path first: ``//`` is one '/' before ``..`` takes a name
    names = [name for name in posixpath.normpath(channel).split("/") if name]
    return "file://:0" + "".join(f"/{name}" for name in names)
