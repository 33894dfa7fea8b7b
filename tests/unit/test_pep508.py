"""mlenv.pep508.requirement parses a marked line as two memoised halves: it must give exactly
what packaging's full parser gives, errors included."""

from __future__ import annotations

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from mlenv.pep508 import requirement

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
]
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
