"""PEP 792 project status markers: read from both page formats (``pages.project_status``) and
said when a project is listed with no file because its index quarantined it."""

from __future__ import annotations

import json

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv.index import IndexGroup, MemoryIndex
from mlenv.index.pages import project_status
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.wheels import build_wheel

PAGE = "https://pypi.example/simple/evil/"


def _html(status: str) -> bytes:
    """Warehouse's project page at api-version 1.4 (its ``simple/detail.html``)."""
    return (
        '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" '
        f'content="1.4">\n    <meta name="pypi:project-status" content="{status}">\n'
        '    <meta name="pypi:project-status-reason" content="malware &amp; more">\n'
        "    <title>Links for evil</title>\n  </head>\n  <body>\n    <h1>Links for evil</h1>\n"
        "  </body>\n</html>\n"
    ).encode()


def _json(status: object) -> bytes:
    document = {"meta": {"api-version": "1.4"}, "name": "evil", "files": [], "versions": []}
    if status is not None:
        document["project-status"] = {"status": status, "reason": "malware"}
    return json.dumps(document).encode()


@pytest.mark.parametrize("status", ["archived", "quarantined", "deprecated"])
def test_both_formats_state_the_status(status: str) -> None:
    assert project_status(_html(status), "text/html", PAGE) == status
    json_type = "application/vnd.pypi.simple.v1+json"
    assert project_status(_json(status), json_type, PAGE) == status


@pytest.mark.parametrize("status", ["active", "Quarantined", "", None, 3, ["quarantined"]])
def test_active_unknown_or_malformed_is_no_status(status: object) -> None:
    """``active`` is the default; a value the spec does not name says nothing."""
    assert project_status(_json(status), "application/vnd.pypi.simple.v1+json", PAGE) is None
    if isinstance(status, str):
        assert project_status(_html(status), "text/html", PAGE) is None


def test_a_quarantined_project_is_named_as_such_not_as_one_to_find_elsewhere() -> None:
    """Before: "listed on <index>, but with no wheel or sdist mlenv can read", under a hint
    to add an index that has it: for a project its index judged malware."""
    internal = MemoryIndex("memory://internal", statuses={"Evil": "quarantined"})
    public = MemoryIndex("memory://public", dict([build_wheel("evil", "1.0")]))
    assert internal.knows(canonicalize_name("evil"))
    group = IndexGroup([internal, public])
    with pytest.raises(ResolutionError) as info:
        resolve(
            [Requirement("evil")],
            Target("linux-64", "3.11", "2.28"),
            group,
            reporter=MemoryReporter(),
            workers=0,
        )
    assert "evil: quarantined on" in info.value.message, info.value.message
    assert "PEP 792" in info.value.message
