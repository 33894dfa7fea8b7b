"""TOML documents built from the grammar, each piece tagged: inside a string or comment, or not.

The tags are what tomllib sees (the test checks tomllib decodes every string to the text the
generator meant), so a lexer's view of a document can be compared with the parser's: the
structure (what is left once strings and comments go) and every key's number of parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

from hypothesis import strategies as st

# characters a string's content draws on: quotes, escapes, comment and value marks, non-ASCII
_CONTENT = st.lists(
    st.sampled_from(['"', "'", "\\", "#", "=", ",", "[", "{", "]", ".", " ", "\t", "a", "é", "\n"]),
    max_size=8,
).map("".join)


@dataclass
class Doc:
    """A document being written: its text, its structure, the strings it decodes to."""

    text: list[str] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)  # every string and quoted key, decoded
    key_parts: list[int] = field(default_factory=list)
    long_key: bool = False  # a key of more parts than the bound is still to be written
    names: count[int] = field(default_factory=count)

    def put(self, text: str) -> None:
        self.text.append(text)
        self.structure.append(text)

    def inert(self, text: str) -> None:
        self.text.append(text)


def _basic(draw: st.DrawFn, content: str) -> str:
    out = []
    for char in content.replace("\n", ""):
        if char == '"':
            out.append(draw(st.sampled_from(['\\"', "\\u0022"])))
        elif char == "\\":
            out.append(draw(st.sampled_from(["\\\\", "\\U0000005C"])))
        else:
            out.append(draw(st.sampled_from([char, "\\t"])) if char == "\t" else char)
    return '"' + "".join(out) + '"'


def _multiline_basic(draw: st.DrawFn, content: str) -> str:
    """Raw quotes up to two in a row (the last one or two before the closing ``\"\"\"``),
    line-ending backslashes before a non-blank, CRLF line ends."""
    out, run = ["\n"] if content.startswith("\n") or draw(st.booleans()) else [], 0
    for char in content:
        if char == '"' and run < 2:
            out.append('"')
            run += 1
            continue
        run = 0
        if char not in " \t\n" and draw(st.booleans()):
            out.append(draw(st.sampled_from(["\\\n", "\\ \t\r\n  ", "\\\r\n\n\t"])))
        out.append(
            {'"': '\\"', "\\": "\\\\", "\n": draw(st.sampled_from(["\n", "\r\n"]))}.get(char, char)
        )
    return '"""' + "".join(out) + '"""'


def _multiline_literal(draw: st.DrawFn, content: str) -> str:
    out, run = ["\n"] if content.startswith("\n") or draw(st.booleans()) else [], 0
    for char in content:
        run = run + 1 if char == "'" else 0
        if run < 3:
            out.append(draw(st.sampled_from(["\n", "\r\n"])) if char == "\n" else char)
    return "'''" + "".join(out) + "'''"


def _decoded(text: str) -> str:
    """What ``_multiline_literal`` kept of the content (runs of quotes cut to two)."""
    out, run = [], 0
    for char in text:
        run = run + 1 if char == "'" else 0
        if run < 3:
            out.append(char)
    return "".join(out)


_SCALARS = ["1", "+0", "0x1f", "1_000", "1.5", "-1e+5", "true", "inf", "1979-05-27T07:32:00.5Z"]


@st.composite
def string(draw: st.DrawFn, doc: Doc, *, key: bool = False) -> None:
    content = draw(_CONTENT)
    form = draw(st.sampled_from(["basic", "literal"] if key else ["basic", "literal", "ml", "mll"]))
    if form == "basic":
        doc.inert(_basic(draw, content))
        content = content.replace("\n", "")
    elif form == "literal":
        content = content.replace("'", "").replace("\n", "")
        doc.inert(f"'{content}'")
    elif form == "ml":
        doc.inert(_multiline_basic(draw, content))
    else:
        doc.inert(_multiline_literal(draw, content))
        content = _decoded(content)
    doc.strings.append(content)


def _blank(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", " ", "\t", "  "]))


def _parts(draw: st.DrawFn, doc: Doc) -> int:
    if doc.long_key and draw(st.booleans()):
        doc.long_key = False
        return 17
    return draw(st.integers(1, 3))


def _newline(draw: st.DrawFn, doc: Doc) -> None:
    if draw(st.booleans()):
        doc.put(_blank(draw))
        comment = draw(_CONTENT).replace("\n", "")
        doc.inert("#" + comment)
    doc.put(draw(st.sampled_from(["\n", "\r\n"])))


@st.composite
def key(draw: st.DrawFn, doc: Doc, *, parts: int) -> None:
    """A key of ``parts`` parts; its first is unique in the document, so no two collide."""
    for index in range(parts):
        if index:
            doc.put(_blank(draw) + "." + _blank(draw))
        if index == 0 or draw(st.booleans()):
            doc.put(f"k{next(doc.names)}")
        else:
            draw(string(doc, key=True))
    doc.key_parts.append(parts)


@st.composite
def value(draw: st.DrawFn, doc: Doc, depth: int = 0) -> None:
    kind = draw(
        st.sampled_from(["string", "scalar", "array", "table"] if depth < 2 else ["string"])
    )
    if kind == "string":
        draw(string(doc))
    elif kind == "scalar":
        doc.put(draw(st.sampled_from(_SCALARS)))
    elif kind == "array":
        doc.put("[")
        for index in range(draw(st.integers(0, 3))):
            if index:
                doc.put(",")
            if draw(st.booleans()):
                _newline(draw, doc)
            doc.put(_blank(draw))
            draw(value(doc, depth + 1))
        if draw(st.booleans()):
            _newline(draw, doc)
        doc.put("]")
    else:
        doc.put("{")
        for index in range(draw(st.integers(0, 3))):
            doc.put(", " if index else _blank(draw))
            draw(key(doc, parts=_parts(draw, doc)))
            doc.put(" = ")
            draw(value(doc, depth + 1))
        doc.put("}")


@st.composite
def document(draw: st.DrawFn, *, long_key: bool) -> Doc:
    """Lines of keys and values, table headers and comments; with ``long_key`` one key
    somewhere has more parts than ``limits.MAX_KEY_PARTS``."""
    doc = Doc(long_key=long_key)
    for _ in range(draw(st.integers(1, 7))):
        shape = draw(st.sampled_from(["pair", "table", "tables", "comment"]))
        if shape == "comment":
            doc.put(_blank(draw))
        elif shape == "pair":
            draw(key(doc, parts=_parts(draw, doc)))
            doc.put(" = ")
            draw(value(doc))
        else:
            parts = _parts(draw, doc)
            doc.put("[[ " if shape == "tables" else "[")
            draw(key(doc, parts=parts))
            doc.put(" ]]" if shape == "tables" else "]")
        _newline(draw, doc)
    if doc.long_key:
        doc.long_key = False
        draw(key(doc, parts=17))
        doc.put(" = 1")
    return doc
