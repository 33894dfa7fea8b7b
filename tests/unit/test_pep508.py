"""mlenv.pep508.requirement parses a marked line as two memoised halves, and the plain shape of
a line's head with one regular expression: it must give exactly what packaging's full parser
gives, errors included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement

from mlenv import pep508
from mlenv.pep508 import requirement
from tests.support.requirements import assert_read_as_packaging_reads

LINES = [
    "numpy>=1.22.4",
    "torch (>=2.0,<3) ; python_version >= '3.9'",
    'accelerate>=0.26.0; extra == "torch"',
    "Foo_Bar[Socks, extra-two]!=1.0.*,>=0.5;sys_platform=='linux' and extra == \"Test_Thing\"",
    'nvidia-cublas==13.0.0.19; platform_system == "Linux" and platform_machine == "x86_64"',
    "pkg===odd.version;os_name=='nt'",
    "x;python_version<'3'",
    "pkg @ https://example.com/pkg-1.0.whl ; extra == 'a'",
    "pkg @ https://example.com/a;b.whl ; extra == 'a'",
    "numpy",
    " A.b-C_d [ x , Y_z ]\t>=1.0.post1.dev2 , <2 ,!=1.5.*",
    "a==1.0+local.7; extra == 'x'",
    "a~=1.0rc1",
    "a>1!2.0a1",
    "a[]",
]
PLAIN = ["numpy", "numpy>=1.22.4", "Foo_Bar[socks,extra-two]!=1.0.*,>=0.5 ", "a==1.0+local"]
BROKEN = ["foo ;", "foo; ", ';extra == "x"', 'foo>>1; extra == "x"', "foo; bogus == 'x'",
          'foo; extra == "x" or']  # fmt: skip


@pytest.mark.parametrize("text", LINES)
def test_a_marked_line_parses_as_the_full_parser_parses_it(text: str) -> None:
    ours, full = requirement(text), Requirement(text)
    assert (ours.name, ours.extras, ours.specifier, ours.url) == (
        full.name,
        full.extras,
        full.specifier,
        full.url,
    )
    assert str(ours.marker) == str(full.marker)
    assert str(ours) == str(full) and ours == full


def test_the_plain_shape_skips_the_tokenizer() -> None:
    """Protects the speed of parsing: the plain heads are read by the one expression."""
    for text in PLAIN:
        assert pep508._simple_head(text) == Requirement(text)


_PIECES = ["a", "Z9", "x.y", "x_", "-", "_", ".", "[", "]", ",", " ", "\t", "(", ")", ">=", "<",
           "==", "===", "~=", "!=", ">", "<=", "1", "1.0", ".*", "+loc", "rc1", ".post2", "v",
           "!", "@", "é", "٣", "dev"]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join))
def test_any_head_parses_or_fails_as_the_full_parser_does(text: str) -> None:
    """Protects the plain-shape reader from accepting what packaging refuses or reading a line
    differently: for any text, the same requirement or the same error."""
    assert_read_as_packaging_reads(text)


def test_lines_sharing_a_marker_share_one_parsed_marker_but_not_the_requirement() -> None:
    one, two = requirement('a>=1; extra == "torch"'), requirement('b; extra == "torch"')
    assert one.marker is two.marker
    again = requirement('a>=1; extra == "cli"')
    assert again is not one and str(one.marker) == 'extra == "torch"'


@pytest.mark.parametrize("text", BROKEN)
def test_a_broken_line_fails_with_the_full_parsers_error(text: str) -> None:
    with pytest.raises(InvalidRequirement) as full:
        Requirement(text)
    with pytest.raises(InvalidRequirement) as ours:
        requirement(text)
    assert str(ours.value) == str(full.value)


def test_an_unevaluable_marker_is_refused_on_every_line_that_shares_it() -> None:
    """Protects: remembering which markers were proved evaluable never lets one through that
    was refused: each line holding it is refused, however often it is read, while a line
    sharing an evaluable marker is read."""
    for text in ("a; python_version ~= 'abc'", "b ; python_version ~= 'abc'") * 2:
        with pytest.raises(InvalidRequirement, match="cannot be evaluated"):
            requirement(text)
    assert str(requirement("c; python_version >= '3'").marker) == 'python_version >= "3"'
    assert requirement("d; python_version >= '3'").name == "d"


def test_a_marker_is_judged_by_the_environments_values_in_any_order() -> None:
    """Protects: the memo of marker answers is keyed by every value evaluated, whatever the
    mapping's order: another order of the same values gives the same answer, another value
    its own."""
    marker = Marker("sys_platform == 'linux' and platform_machine == 'x86_64'")
    linux = {"sys_platform": "linux", "platform_machine": "x86_64"}
    assert pep508.marker_holds(marker, linux)
    assert pep508.marker_holds(marker, dict(reversed(linux.items())))
    assert not pep508.marker_holds(marker, {**linux, "platform_machine": "aarch64"})
    assert not pep508.marker_holds(marker, {"platform_machine": "x86_64", "sys_platform": "win32"})
