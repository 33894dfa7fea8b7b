"""Twenty-sixth adversary pass: the three secrets the one redactor (``mlenv.redaction.redact``)
still showed after pass 23, each in many shapes.

- a secret parameter whose name is percent-encoded (``?access%5Ftoken=``), which a server
  decodes and honours;
- a secret parameter in a fragment (OAuth's ``#access_token=``);
- a password typed with a raw ``/``, ``?`` or ``#`` (``https://user:pa/ss@host``), cut at its
  first ``/`` by every URL parser, so the old userinfo expression never reached its ``@``.

What must not change: a host (with its port) stays visible, since an index URL's redacted
form is part of a lock's inputs hash; and the redactor stays linear in hostile text.
"""

from __future__ import annotations

import re
import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlenv.redaction import redact
from tests.support.growth import LINEAR_BOUND, growth

SECRET_NAMES = ["token", "access_token", "password", "api_key", "api-key", "sig",
                "X-Amz-Signature", "X-Goog-Credential", "private_token", "auth"]  # fmt: skip
# marked, so a value is never a word of the message around it
VALUE = st.text(string.ascii_letters + string.digits + "-_.~+/=", min_size=4, max_size=40).map(
    "S3CR{}".format
)


@st.composite
def percent_encoded(draw: st.DrawFn) -> str:
    """A secret parameter name with any of its characters written as ``%XX`` (either case)."""
    name = draw(st.sampled_from(SECRET_NAMES))
    out = []
    for char in name:
        if draw(st.booleans()):
            escape = f"%{ord(char):02X}"
            out.append(escape.lower() if draw(st.booleans()) else escape)
        else:
            out.append(char)
    return "".join(out)


@settings(max_examples=300)
@given(percent_encoded(), VALUE, st.sampled_from(["?", "&", ";", "#", "?a=1&", "#x=1&"]))
def test_a_percent_encoded_secret_name_hides_its_value(name: str, value: str, lead: str) -> None:
    text = f"index https://pypi.example/simple/{lead}{name}={value} is unreachable"
    shown = redact(text)
    assert value not in shown, shown
    assert f"{name}=***" in shown  # the name stays, so the user sees which parameter it was


@settings(max_examples=300)
@given(st.sampled_from(SECRET_NAMES), VALUE, st.sampled_from(["#", "#state=x&", "?a=1#"]))
def test_a_secret_in_a_fragment_is_hidden(name: str, value: str, lead: str) -> None:
    shown = redact(f"https://login.example/cb{lead}{name}={value}&expires_in=3600")
    assert value not in shown, shown
    assert "expires_in=3600" in shown


HOST = st.from_regex(r"[a-z][a-z0-9-]{0,12}(\.[a-z]{2,5}){1,2}", fullmatch=True)
USER = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True)
# what a password typed raw may hold: a '/', '?' or '#' somewhere (no blank, '@' or ':')
RAW_PASSWORD = st.tuples(
    st.text(string.ascii_letters + string.digits + "!$%&*+=~/?#", max_size=20),
    st.sampled_from("/?#"),
    st.text(string.ascii_letters + string.digits + "!$%&*+=~/?#", min_size=1, max_size=20),
).map("".join)


@settings(max_examples=400)
@given(USER, RAW_PASSWORD, HOST, st.sampled_from(["https", "http", "git+https", "oci"]))
def test_a_password_with_a_raw_slash_is_hidden_and_its_host_kept(
    user: str, password: str, host: str, scheme: str
) -> None:
    # ``://user:8080/x@h`` reads as a host and port first (see the next test): a password
    # that starts like a port followed by a path is shown, as a parser would read it
    assume(re.match(r"[0-9]*[/?#]", password) is None)
    text = f"cannot read '{scheme}://{user}:{password}@{host}/simple/torch/'"
    shown = redact(text)
    assert password not in shown, shown
    assert f"://***@{host}/simple/torch/'" in shown, shown


@settings(max_examples=400)
@given(HOST, st.integers(1, 65535), st.from_regex(r"[a-z0-9/._-]{0,20}", fullmatch=True),
       st.from_regex(r"[a-z0-9.]{1,12}", fullmatch=True))  # fmt: skip
def test_a_host_and_port_before_an_at_in_the_path_stay_shown(
    host: str, port: int, path: str, after: str
) -> None:
    """``https://host:8080/a@b`` has no userinfo: hiding ``host:8080`` would let two index
    hosts share one inputs hash."""
    for text in (f"https://{host}:{port}/{path}@{after}", f"https://{host}/{path}:x@{after}",
                 f"https://[::1]:{port}/{path}@{after}"):  # fmt: skip
        assert redact(text) == text


def test_the_new_shapes_keep_the_redactor_linear() -> None:
    """Four times the text takes about four times as long: a quadratic shape takes 16x; the
    bound leaves room for a loaded runner and for caches that a longer text outgrows."""
    shapes = [
        lambda n: "://a:1" * n,
        lambda n: "://a:b" * n,
        lambda n: "x://a:" + "b/" * n,
        lambda n: "#" + "%41" * n + "=x",
        lambda n: "?%" * n + "=",
        lambda n: "x://u:" + "/" * n + "@",
    ]
    for number, shape in enumerate(shapes):
        assert growth(redact, shape) < LINEAR_BOUND, number
