"""A ``file:`` location without ``//`` (``file:wheels``, ``file:./dist``): no place every reader
reads alike. pip takes ``file:x`` as ``x`` in its working directory (``url_to_path``), uv as
``/x`` (the url crate's WHATWG parsing), mlenv.toml's path rule as a directory named ``file:x``
beside it; so the manifest's reader and ``init --from``'s trust check both refuse it. Only
``file:/ABSOLUTE`` reads alike to pip and uv (``/ABSOLUTE``, percent-decoded), so ``init
--from`` takes an imported find-links spelt so as that directory (``as_path``). A channel is
no such case: conda and rattler see a URL only with ``://``, and read ``file:/x`` as a name."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from mlenv.hidden_text import controls_escaped

HINT = "write the directory as a path (relative to mlenv.toml) or as a file:///ABSOLUTE/PATH URL"


def bare_file_url(location: str) -> str | None:
    """Why ``location``, a ``file:`` URL (any case) with no ``//`` after the colon, is refused,
    or None for any other location."""
    if location[:5].lower() != "file:" or location[5:7] == "//":
        return None
    location = controls_escaped(location)  # a tab hid a password from ``without_secrets``
    rest = location[5:]
    if rest.startswith("/"):  # pip and uv agree on it; a manifest path rule does not
        return f"{location} is a file: URL without '//', which mlenv.toml reads as a path"
    return (
        f"{location} is a file: URL without '//', which pip reads as {rest} in its working "
        f"directory and uv as /{rest}"
    )


def as_path(location: str) -> str:
    """``location`` read as pip (``url_to_path``) and uv (a URL's file path) both read it: a
    ``file:/ABSOLUTE`` URL (``--find-links file:$PWD/wheels``) as the directory ``/ABSOLUTE``;
    anything else, a relative ``file:x`` too, as it is."""
    if location[:5].lower() != "file:" or location[5:6] != "/" or location[5:7] == "//":
        return location
    parts = urlsplit(location)
    # url2pathname is unquote on POSIX; importing urllib.request (http.client, email, ssl)
    # cost every lock 13 ms, as ``net.origins.file_url_to_path`` says
    return location if parts.query or parts.fragment else unquote(parts.path)
