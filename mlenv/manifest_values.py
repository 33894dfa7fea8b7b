"""The rules for one manifest value each (a name, a URL, a location, a driver, a GPU, a
MatchSpec): a problem text or None, and the hint that mends it.

They live apart from the reader's walk over the tables (``manifest_read``) and from the checker
that gathers problems (``manifest_checker``) because each rule is a small pure function of one
string, shared by both.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import SplitResult, unquote, urlsplit

from mlenv import bare_file
from mlenv.bare_file import bare_file_url
from mlenv.conda.channel_paths import ONE_SLASH, misread
from mlenv.conda.records import token_respelt
from mlenv.errors import hidden_problem
from mlenv.lazy_pattern import LazyPattern
from mlenv.manifest import PYTHON_MINORS
from mlenv.spelled import conda_channel, conda_line

# Each is matched whole (``fullmatch``: "$" also matches before a final line break) and in
# ASCII (``\d`` also takes fullwidth and Arabic-Indic digits, which int() reads as numbers).
# The image's name too: Docker's path component (a lone '.', one or two '_', or dashes between
# alphanumerics; "a..b" was taken here and refused by the build's last step), at most 64.
_NAME = re.compile(r"(?=[a-z0-9._-]{1,64}\Z)[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_NAME_WANTED = "lower-case letters and digits, joined by '.', '_', '__' or dashes (at most 64)"


def _env_name_hint(text: str) -> str | None:
    """The name in Docker's spelling ("My Env" is "my-env"), if that is one."""
    meant = re.sub(r"[^a-z0-9._]+", "-", text.strip().lower()).strip("-._")
    return f'did you mean "{meant}"?' if is_env_name(meant) else None


def is_env_name(text: str) -> bool:
    """Whether ``text`` may name an environment (and so its image and its archive)."""
    return _NAME.fullmatch(text) is not None


_CUDA = LazyPattern(r"[1-9][0-9]?\.(?:0|[1-9][0-9]?)")  # as NVIDIA writes it: 12.4, not 12.04
_CUDA_WANTED = 'a CUDA toolkit version like "12.4" (an update such as 12.4.1 is written "12.4")'
_ARCH = LazyPattern(r"sm_[0-9]{2,3}[af]?")
_GLIBC = LazyPattern(r"2\.(\d{2})", re.ASCII)
# Not in ASCII: there ``\S`` takes U+2028, U+00A0 and U+3000, which Unicode's refuses.
# The scheme in any case (RFC 3986 3.1: HTTP:// is http://), lowered where it is kept.
_URL = re.compile(r"(?i:https?|file)://\S+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"(?i:https?|file)://")
_PATH_CONTROL = re.compile(r"[\x01-\x1f\x7f]")


def _unseen(text: str) -> str | None:
    """The first character of a value no review sees as it acts, by code point and position: a
    control or format character (a line or paragraph separator, which pip and the lock's reader
    end a line at; a bidi override or a zero-width character, which hide or reorder what a pull
    request shows), as ``errors.hidden_problem`` finds them for every string of the manifest."""
    return hidden_problem(text)


_NONEMPTY = LazyPattern(r"\S.*")


def _pattern(regex: re.Pattern[str] | LazyPattern, expected: str) -> Callable[[str], str | None]:
    def valid(value: str) -> str | None:
        return None if regex.fullmatch(value) else f"expected {expected}"

    return valid


def _python(value: str) -> str | None:
    if value in PYTHON_MINORS:
        return None
    if re.fullmatch(r"3\.[0-9]+\.[0-9]+", value):
        return f'expected a minor version such as "{value.rsplit(".", 1)[0]}", not a patch release'
    return f"expected a CPython minor version from {PYTHON_MINORS[0]} to {PYTHON_MINORS[-1]}"


def _glibc(value: str) -> str | None:
    match = _GLIBC.fullmatch(value)
    if match is None or int(match[1]) < 17:
        return 'expected a glibc version of at least "2.17", like "2.28"'
    return None


def _url(value: str) -> str | None:
    if not _URL.fullmatch(value):
        return "expected an http://, https:// or file:// URL"
    if _CONTROL.search(value):  # \S takes them; a NUL reached the file system as a traceback
        return "the URL holds a control character (a NUL, a line break, an escape): remove it"
    if unseen := _unseen(value):
        return f"the URL holds {unseen}: remove it"
    if "\\" in value:  # https://pypi.corp\\@evil.example: httpx reaches evil, uv and pip pypi.corp
        return (
            "the URL holds a backslash, where uv, pip and browsers end the host and mlenv's "
            "parser reads a user name, so they would ask different hosts: remove it"
        )
    try:  # urlsplit raises on a bracket left open or one with no IP address in it
        parts = urlsplit(value)
    except ValueError as exc:
        return f"it is not a URL ({exc}): write an IPv6 host as [2001:db8::1]"
    if value[:7].lower() == "file://":
        return _local_path_problem(unquote(parts.path))
    return _web_problem(parts)


def _web_problem(parts: SplitResult) -> str | None:
    """An http(s) URL mlenv could never fetch, refused where it is typed, not at the first
    fetch (``https:///host/simple`` names no host; browsers repair it, httpx does not)."""
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "its port is not a number from 0 to 65535: write https://HOST:PORT/..."
    if not parts.hostname:
        return "it names no host: write scheme://HOST/... with exactly two slashes"
    return None


def _location_hint(value: str) -> str | None:
    """How to mend a find-links directory or channel: its spelling, or a hidden character."""
    return bare_file.HINT if bare_file_url(value) else _unseen_hint(value)


def _unseen_hint(value: str) -> str | None:
    """How to mend a location holding a character no review sees (a TOML escape such as
    ``\\u2028`` is how one hides in mlenv.toml)."""
    if _unseen(value) is None:
        return None
    return "spell the location in visible characters only (rename a directory that holds one)"


def _location(value: str) -> str | None:
    if bare := bare_file_url(value):
        return bare
    if _URL.fullmatch(value) or _SCHEME.match(value):  # a blank in a URL is no local path
        return _url(value)
    if not value or "\0" in value:
        return "expected a URL or a directory path"
    if unseen := _unseen(value):  # as spelled: the lock and the exports write it so
        return f"the path holds {unseen}, which the exports would write as it is: rename it"
    return _local_path_problem(value)


def _channel(value: str) -> str | None:
    """A channel name (conda-forge), a URL or a local directory, as conda takes them, spelt
    so that rattler reads the directory its path names (``channel_paths.misread``)."""
    if not _NONEMPTY.fullmatch(value):
        return "expected a non-empty string"
    return (
        conda_channel(value)
        or misread(value)
        or _location(value)  # first: the two after it read a URL Python can split
        or token_respelt(value)
        or _host_respelt(value)
    )


def _host_respelt(value: str) -> str | None:
    """Why a web channel's host is not in the one spelling ``records.channel_key`` compares,
    or None: rattler's URL parser (WHATWG) reads a fullwidth ``h.example``, ``%68.example``,
    ``127.1`` and ``[0::1]`` as ``h.example``, ``127.0.0.1`` and ``[::1]``, one channel mlenv
    split."""
    parts = urlsplit(value)
    host = parts.hostname if parts.scheme.lower() in ("http", "https") else None
    host = f"[{host}]" if host and ":" in host else host
    canonical = host and _canonical_host(host)
    if not host or canonical == host:
        return None
    return (
        f"the channel's host {host!r} is another spelling of {canonical!r}, which rattler "
        f"reads it as: write {canonical!r}"
    )


def _canonical_host(host: str) -> str:
    """``host`` as a WHATWG URL parser makes it; what no rule here reads, as written."""
    if host.startswith("["):
        with contextlib.suppress(ValueError):
            return f"[{ipaddress.IPv6Address(host[1:-1])}]"
        return host
    name = unquote(host)
    if not name.isascii():
        with contextlib.suppress(UnicodeError):
            name = name.encode("idna").decode("idna")  # an IDN stays as its own Unicode
    if _NUMERIC_LABEL.fullmatch(name.rstrip(".").rpartition(".")[2]):
        with contextlib.suppress(OSError):
            return socket.inet_ntoa(socket.inet_aton(name.rstrip(".")))
    return name.lower()


# A host whose last label is a number (decimal, 0x hex) is an IPv4 address to WHATWG
_NUMERIC_LABEL = LazyPattern(r"[0-9]+|0[xX][0-9a-fA-F]*")


def _channel_hint(value: str) -> str | None:
    return ONE_SLASH if misread(value) else _location_hint(value)


# NAME_MAX of every Linux file system mlenv runs on (ext4, xfs, btrfs, tmpfs, overlayfs), and
# Linux's PATH_MAX: the bytes a path given to a system call may have, its NUL included
_NAME_MAX = 255
_PATH_MAX = 4096


def _local_path_problem(path: str) -> str | None:
    """A local path no file system can hold is the manifest's mistake, said here with its key,
    not a traceback (ENAMETOOLONG, an embedded NUL) when the lock first looks there."""
    if "\0" in path:
        return "the path holds a NUL byte (%00), which no file name can"
    if control := _PATH_CONTROL.search(path):  # origins.follow refuses a file under it
        return (
            f"the path holds the control character {control[0]!r} (a tab, a line break...), "
            "which mlenv never reads a file under: rename the directory"
        )
    if (size := len(path.encode("utf-8", "surrogatepass"))) >= _PATH_MAX:
        return (
            f"the path is {size} bytes long, over the {_PATH_MAX} (with its end) a system call "
            "takes; check the path"
        )
    longest = max(len(part.encode("utf-8", "surrogatepass")) for part in path.split("/"))
    if longest > _NAME_MAX:
        return (
            f"a name in the path is {longest} bytes long, over the {_NAME_MAX} a file system "
            "holds; check the path"
        )
    return None


# oci://HOST[:PORT]/REPOSITORY (distribution/reference's grammar, without tag or digest),
# matched whole: "$" also matched before a final line break, which then reached the registry.
_REPOSITORY_REF = LazyPattern(
    r"oci://[A-Za-z0-9.-]+(?::[0-9]+)?/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


def _repository(value: str) -> str | None:
    if _REPOSITORY_REF.fullmatch(value):
        return None
    return (
        "expected oci://REGISTRY/REPOSITORY (no tag), e.g. oci://registry.internal:5000/mlenv/cache"
    )


def _driver(value: str) -> str | None:
    """Through the one driver reader: ASCII digits and dots, exact (no padding)."""
    if _driver_hint(value) is None:
        return None
    return 'expected an NVIDIA driver version like "550.54.14"'


def _driver_hint(value: str) -> str | None:
    """The driver reader's own hint (a branch such as R570, a pasted nvidia-smi line)."""
    from mlenv.cuda.versions import CudaError, DriverVersion

    try:
        DriverVersion.parse(value)
    except CudaError as exc:
        return exc.hint or "write it as nvidia-smi prints it, e.g. 550.54.14"
    return None


def _arch(value: str) -> str | None:
    if re.fullmatch(r"compute_[0-9]{2,3}[af]?", value):
        real = "sm_" + value.removeprefix("compute_")
        return f"expected a GPU (sm_XY); {value} is a virtual (PTX) architecture, write {real}"
    if _ARCH.fullmatch(value):
        return None
    # nvidia-smi's compute_cap (8.6, 12.0) or CMake's CUDA_ARCHITECTURES (86): the same GPU
    spelled = re.fullmatch(r"(?:sm_?)?([0-9]{1,2})\.?([0-9][af]?)", value, re.IGNORECASE)
    real = f"sm_{spelled[1]}{spelled[2].lower()}" if spelled else ""
    return 'expected a GPU architecture like "sm_80"' + (f"; write {real}" if real else "")


_MATCH_SPEC_HINT = "write conda MatchSpecs such as 'numpy >=1.26' or 'python 3.11.*'"


def _match_spec(value: str) -> str | None:
    """A MatchSpec rattler will read; one holding a control or format character is refused:
    rattler drops a ``# comment`` unread, so ``purepkg #\x7f`` locked, and a line separator or
    bidi override there is text no reviewer of the manifest sees."""
    if not _NONEMPTY.fullmatch(value):
        return "expected a non-empty string"
    if hidden := hidden_problem(value):
        return f"holds a control or format character, {hidden}: remove it"
    return conda_line(value)
