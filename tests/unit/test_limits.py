"""Invariant 7: inputs are bounded in size and in work. The resolver's cost is counted (the
specifier clauses it evaluates, the markers it evaluates, the index calls it makes), so a
quadratic regression fails here whatever the machine: no bound in seconds, which a slow or
loaded runner breaks with unchanged code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from packaging.requirements import Requirement

from mlenv.index import MemoryIndex
from mlenv.limits import (
    MAX_DEPENDENCIES,
    MAX_REQUIRES_DIST,
    MAX_REQUIRES_DIST_CHARS,
    LimitError,
    enforce,
    enforce_requires_dist,
)
from mlenv.report import MemoryReporter
from mlenv.resolver import dependencies as dependencies_module
from mlenv.resolver import provider as provider_module
from mlenv.resolver import resolve as resolve_module
from mlenv.resolver.model import Resolution
from mlenv.resolver.requirements import _requirement
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.huge_project import HugeProject
from tests.support.wheels import build_wheel

X86_311 = Target("linux-64", "3.11", "2.28")


def _resolve(root: str, *wheels: tuple[str, bytes]) -> Resolution:
    index = MemoryIndex("memory://a", dict(wheels))
    return resolve([Requirement(root)], X86_311, index, reporter=MemoryReporter())


class _Counting(provider_module._Provider):
    """The real provider, remembering the work counters of the last resolution: specifier
    clauses evaluated (``work``) and markers evaluated. resolve() closes the provider whether
    it succeeds or raises, so a refusal's counters are kept too."""

    work_done = 0
    markers = 0

    def close(self) -> None:
        _Counting.work_done, _Counting.markers = self.work, self.markers_evaluated
        super().close()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Counting]]:
    """Resolutions in this test count their work on ``_Counting``."""
    _Counting.work_done = _Counting.markers = -1
    monkeypatch.setattr(resolve_module, "_Provider", _Counting)
    yield _Counting


def _work(lines: int) -> int:
    requires = [f"dep>={i}.0" for i in range(lines)]
    wheels = [build_wheel("app", "1.0", requires_dist=requires)]
    wheels += [build_wheel("dep", f"{v}.0") for v in range(lines, lines + 20)]
    result = _resolve("app", *wheels)
    assert {str(p.name): str(p.version) for p in result.pins}["dep"] == f"{lines + 19}.0"
    return _Counting.work_done


def test_requirement_work_is_linear_in_the_number_of_requires_dist_lines(
    counted: type[_Counting],
) -> None:
    """Protects invariant 7's resolver bound: ten times the lines on one dependency costs
    about ten times the work (it was quadratic: a SpecifierSet rebuilt per candidate)."""
    small, large = _work(500), _work(5_000)
    assert large <= 12 * small, (small, large)


def test_ten_thousand_requires_dist_lines_resolve_in_linear_work(
    counted: type[_Counting],
) -> None:
    """Protects invariant 7 end to end in the resolver: 10,000 lines naming one dependency
    (20,000 clauses) resolve, each clause evaluated about twice (once to match the candidate,
    once to check the pin: 40,002 here). This took minutes before: resolvelib re-matches a
    name's candidates against all its requirements each time one is added, so without
    ``_merged`` handing it one requirement the work is quadratic (1,000 lines: 1,003,002;
    10,000 lines: about 10**8), far past the bound whatever the machine's speed."""
    requires = [f"dep>={i}.0,!={i}.5" for i in range(10_000)]
    result = _resolve(
        "app", build_wheel("app", "1.0", requires_dist=requires), build_wheel("dep", "10000.0")
    )
    assert len(result.pins) == 2
    clauses = 2 * len(requires)
    assert counted.work_done <= 4 * clauses, counted.work_done


@pytest.mark.parametrize(
    ("requires", "bound"),
    [
        ([f"dep>={i}" for i in range(MAX_REQUIRES_DIST + 1)], "Requires-Dist lines"),
        # one line of a million clauses: parsing costs microseconds a character, and a 64 MB
        # METADATA held a read for minutes
        (["lib", "dep" + ",!=1" * (MAX_REQUIRES_DIST_CHARS // 4)], "characters of Requires-Dist"),
    ],
)
def test_requires_dist_past_its_bound_fails_fast_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, requires: list[str], bound: str
) -> None:
    """Protects invariant 7: a package over MAX_REQUIRES_DIST lines or MAX_REQUIRES_DIST_CHARS
    characters is refused, by name, before its requirements are parsed (counted: not one
    Requires-Dist line reaches the parser); fetch's METADATA check calls the same bound."""
    parsed: list[str] = []
    real = _requirement

    def counting(text: str, origin: str) -> Requirement:
        parsed.append(text)
        return real(text, origin)

    monkeypatch.setattr(dependencies_module, "_requirement", counting)
    with pytest.raises(LimitError, match=bound) as info:
        _resolve("app", build_wheel("app", "1.0", requires_dist=requires))
    assert info.value.where == "app 1.0"
    assert parsed == []


def test_requires_dist_at_its_character_bound_is_allowed() -> None:
    enforce_requires_dist(["x" * MAX_REQUIRES_DIST_CHARS], where="at the bound")


def test_too_many_distinct_dependencies_are_refused_naming_the_package() -> None:
    """Protects invariant 7: resolvelib's rounds are quadratic in the number of projects, so
    one package may not fan out past MAX_DEPENDENCIES."""
    requires = [f"dep{i}" for i in range(MAX_DEPENDENCIES + 1)]
    with pytest.raises(LimitError, match="distinct dependencies") as info:
        _resolve("app", build_wheel("app", "1.0", requires_dist=requires))
    assert info.value.where == "app 1.0"


def test_a_chain_of_self_referential_extras_resolves_in_bounded_work(
    counted: type[_Counting],
) -> None:
    """Protects invariant 7 for extras: app[e0] -> app[e1] -> ... -> app[e300] -> dep, with
    every extra also naming itself, resolves in work linear in its 601 lines: each marker is
    tried only with the extras it names (1,202 marker evaluations, 1,806 clauses here). Tried
    with every extra of every app[eN] candidate, the 301 candidates evaluate all 601 lines
    each (about 180,000), far past the bound."""
    n = 300
    requires = [f"app[e{i + 1}]; extra == 'e{i}'" for i in range(n)]
    requires += [f"app[e{i}]; extra == 'e{i}'" for i in range(n)]
    requires += [f"dep; extra == 'e{n}'"]
    extras = [f"e{i}" for i in range(n + 1)]
    result = _resolve(
        "app[e0]",
        build_wheel("app", "1.0", requires_dist=requires, provides_extra=extras),
        build_wheel("dep", "1.0"),
    )
    assert {p.name for p in result.pins} == {"app", "dep"}
    assert counted.markers <= 3 * len(requires), counted.markers
    assert counted.work_done <= 4 * len(requires), counted.work_done


def test_too_many_extras_combinations_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects invariant 7: extras that name ever new combinations of each other stop at
    MAX_EXTRA_SETS with the project named."""
    monkeypatch.setattr(provider_module, "MAX_EXTRA_SETS", 20)
    requires = [f"app[e{i + 1},e{i}]; extra == 'e{i}'" for i in range(40)]
    extras = [f"e{i}" for i in range(41)]
    with pytest.raises(LimitError, match="extras combinations") as info:
        _resolve(
            "app[e0]", build_wheel("app", "1.0", requires_dist=requires, provides_extra=extras)
        )
    assert info.value.where == "app"


def test_a_requirement_naming_too_many_extras_is_refused() -> None:
    """Protects invariant 7: ``dep[e1,...,e5000]`` would cost 5,000 marker evaluations per
    requirement line of dep; it is refused naming the package that asked."""
    many = ",".join(f"e{i}" for i in range(5_000))
    with pytest.raises(LimitError, match="extras in") as info:
        _resolve("app", build_wheel("app", "1.0", requires_dist=[f"dep[{many}]"]))
    assert info.value.where == "app 1.0"


def test_enforce_names_what_and_where() -> None:
    """Protects the error shape every bound shares."""
    enforce(10, 10, "things", where="x")
    with pytest.raises(LimitError) as info:
        enforce(11, 10, "things", where="https://index.example/simple/x/")
    assert "things: more than 10" in str(info.value)
    assert info.value.where == "https://index.example/simple/x/"
    assert info.value.hint


def test_a_project_with_many_files_resolves_in_work_linear_in_its_files(
    counted: type[_Counting],
) -> None:
    """Protects invariant 7 for huge project pages: a project's files are listed once and its
    candidates filtered once per call, so 20,000 files of one project (the wanted one oldest)
    cost one specifier check each (20,003 here), one listing per project and two metadata
    reads. Filtering per candidate, or listing per call, is quadratic: hundreds of millions
    of checks, far past the bound. Counted, so the size need not be 100,000 (20 s here,
    against a bound of 20 s) to make a regression show."""
    count = 20_000
    index = HugeProject(count)
    result = resolve(
        [Requirement("app")],
        X86_311,
        index,  # type: ignore[arg-type]
        reporter=MemoryReporter(),
    )
    assert {(str(p.name), str(p.version)) for p in result.pins} == {("app", "0.0"), ("dep", "4.0")}
    assert sorted(index.listed) == ["app", "dep"]
    assert sorted(index.read) == ["app-0.0-py3-none-any.whl", "dep-4.0-py3-none-any.whl"]
    assert counted.work_done <= 2 * count, counted.work_done


def test_marker_evaluations_have_a_budget(
    monkeypatch: pytest.MonkeyPatch, counted: type[_Counting]
) -> None:
    """Protects invariant 7 where extras multiply work: lines testing ``extra`` other than by
    ``==`` are tried with every requested extra; past MAX_MARKER_EVALUATIONS the resolution
    stops, naming the package, instead of grinding for minutes: at the first evaluation over
    the budget, counted (without it, all 90,900 would be evaluated)."""
    monkeypatch.setattr(dependencies_module, "MAX_MARKER_EVALUATIONS", 10_000)
    # Fewer distinct dependencies than MAX_DEPENDENCIES, so only the marker budget can stop it
    # (whichever extra the set happens to yield first).
    requires = [f"dep{i}; extra > 'zz'" for i in range(900)]  # never true: every extra is tried
    extras = [f"e{i}" for i in range(100)]
    wheel = build_wheel("app", "1.0", requires_dist=requires, provides_extra=extras)
    with pytest.raises(LimitError, match="marker evaluations") as info:
        _resolve(f"app[{','.join(extras)}]", wheel)
    assert info.value.where == "app 1.0"
    assert counted.markers == 10_001
