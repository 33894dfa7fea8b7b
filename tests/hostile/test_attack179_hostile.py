"""Attack 179: mlenv.toml written by hand by users of uv, pixi, conda, PyTorch and Docker.

Findings (input: what mlenv did -> what it does now):

- ``version = 12.10`` (unquoted; TOML reads the number 12.1): the hint said
  ``version = "12.1"``, an accepted CUDA release, so copying the fix targeted another CUDA
  (``python = 3.10`` was told ``python = "3.1"``, refused next run) -> every spelling the
  number may have had that the key takes is offered: ``"12.1" or "12.10"``, ``"3.10"``.
- ``cu128``, ``cuda12.8``, ``CUDA 12.8``, ``12.8.1``, ``"12.8 "``: refused with no hint ->
  ``did you mean "12.8"?``; ``"13"`` names the known 13.x releases.
- ``py311``, ``cp311``, ``>=3.11``, ``3.11.*``, ``python3.11``, ``"3.1"``: no hint ->
  ``did you mean "3.11"?`` (``"3.10"`` for ``"3.1"``).
- ``driver-floor = "R570"``: the driver reader's branch hint was dropped -> shown.
- ``--index-url URL``, ``-e .``, ``-r requirements.txt``, ``torch==2.7.0 --hash=...``, a wheel
  URL or path, ``git+https://...``, pixi's ``numpy *``, conda's ``numpy 1.26.*``, ``numpy  #
  pinned`` in [pypi].dependencies: "write a name and an optional version" -> the fix for each.
- ``[PyPI]``, ``[CUDA]``, ``Index-URL``: "valid keys: ..." -> ``did you mean "pypi"?``;
  uv's ``requires-python`` and ``[[index]]`` name mlenv's key.
- ``[[pypi]]``, a pixi/poetry ``dependencies = { numpy = ">=1" }`` table, an array for
  ``index-url``: no hint -> the array spelling, with the table's entries converted.
- ``dependencies = ["numpy", "NumPy"]`` (or ``zope.interface``/``zope-interface``): accepted,
  where ``["numpy", "numpy"]`` was refused -> refused alike (PEP 503 names); ``mlenv init
  --from`` a requirements.txt listing both writes the first spelling once, as it did an exact
  repeat.
- ``index-strategy = "unsafe-first-match"`` (uv): "did you mean best-match?", another rule ->
  no mlenv equivalent; ``unsafe-best-match``, ``if-necessary``, ``docker`` name mlenv's value.
- ``channels = ["-c conda-forge"]``: accepted as a local directory channel -> refused, naming
  "conda-forge"; ``dependencies = ["pip:", "- numpy"]`` (environment.yml) accepted as
  MatchSpecs -> refused with the fix.
- ``glibc = "manylinux2014"``/``"manylinux_2_28"``, ``numpy; platform == 'linux'``, ``torch @
  URL``, ``image-tar = "false"``, ``layers = "4"``, ``name = "My Env"``, Poetry's ``numpy^1.26``:
  no hint -> the fix (a Poetry table's ``^1.26`` as Poetry means it, ``>=1.26,<2.0.0``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.matrix import known_cuda_versions
from mlenv.cuda.versions import CudaVersion
from mlenv.errors import ManifestError, Problem
from mlenv.inputs import MANIFEST_KEYS
from mlenv.manifest import PYTHON_MINORS, Manifest
from mlenv.manifest_read import loads
from tests.support.cli import init_from, run_in_process

ENV = '[environment]\nname = "demo"\npython = "3.11"\n'
KNOWN = [str(cuda) for cuda in known_cuda_versions() if cuda <= CudaVersion(13, 0)]  # confirmed
FLOOR = "999.1"  # above what every CUDA release needs


def problems(text: str) -> tuple[Problem, ...]:
    with pytest.raises(ManifestError) as info:
        loads(text)
    return info.value.problems


def only(text: str, where: str) -> Problem:
    found = [p for p in problems(text) if p.where == f"mlenv.toml: {where}"]
    assert len(found) == 1, problems(text)
    return found[0]


def cuda_table(version: str, floor: str | None = None) -> str:
    return f'{ENV}[cuda]\nversion = {version}\ndriver-floor = "{floor or FLOOR}"\n'


def accepted(text: str) -> Manifest:
    return loads(text)


@settings(max_examples=150, deadline=None)
@given(major=st.integers(1, 99), minor=st.integers(0, 99))
def test_an_unquoted_version_is_never_hinted_as_a_shorter_twin(major: int, minor: int) -> None:
    written = f"{major}.{minor}"  # as typed, unquoted: TOML keeps no trailing zero
    hint = only(cuda_table(written), "[cuda].version").hint or ""
    assert f'version = "{written}"' in hint  # what was typed is offered, quoted


@pytest.mark.parametrize(
    ("written", "offered", "never"),
    [
        ("3.10", ['python = "3.10"'], 'python = "3.1"'),
        ("3.1", ['python = "3.10"'], 'python = "3.1"'),
        ("3.11", ['python = "3.11"'], '"3.110"'),
    ],
)
def test_an_unquoted_python_is_hinted_as_the_minor_it_can_be(
    written: str, offered: list[str], never: str
) -> None:
    hint = only(ENV.replace('"3.11"', written), "[environment].python").hint or ""
    assert all(text in hint for text in offered) and never + " " not in hint + " "


@settings(max_examples=150, deadline=None)
@given(
    cuda=st.sampled_from(KNOWN),
    prefix=st.sampled_from(["", "cu", "cuda", "CUDA ", "Cuda-", "v", "cuda_"]),
    update=st.sampled_from(["", ".0", ".1", ".127"]),
    blank=st.sampled_from(["", " ", "\t"]),
)
def test_cuda_spellings_name_the_version_they_mean(
    cuda: str, prefix: str, update: str, blank: str
) -> None:
    assert accepted(cuda_table(f'"{cuda}"')).cuda is not None  # the canonical one is taken
    spelled = f"{prefix}{cuda}{update}{blank}"
    if spelled == cuda:
        return
    found = only(cuda_table(f'"{spelled}"'), "[cuda].version")
    assert repr(spelled) in found.message
    assert f'did you mean "{cuda}"?' in (found.hint or "")


@pytest.mark.parametrize(
    ("spelled", "meant"), [("cu128", "12.8"), ("cu121", "12.1"), ("CU130", "13.0")]
)
def test_pytorch_index_suffixes_name_their_cuda(spelled: str, meant: str) -> None:
    hint = only(cuda_table(f'"{spelled}"'), "[cuda].version").hint
    assert hint is not None and f'did you mean "{meant}"?' in hint


def test_a_bare_cuda_major_lists_its_releases() -> None:
    hint = only(cuda_table('"13"'), "[cuda].version").hint or ""
    assert "13.0" in hint and "major.minor" in hint


@settings(max_examples=150, deadline=None)
@given(
    minor=st.sampled_from(PYTHON_MINORS),
    shape=st.sampled_from(
        ["py{n}", "cp{n}", "python{v}", "cpython{v}", ">={v}", "=={v}.*", "~={v}.0", "{v}.*",
         "{n}", " {v}", "{v} "]
    ),
)  # fmt: skip
def test_python_spellings_name_the_minor_they_mean(minor: str, shape: str) -> None:
    spelled = shape.format(n=minor.replace(".", ""), v=minor)
    found = only(ENV.replace('"3.11"', f'"{spelled}"'), "[environment].python")
    assert f'did you mean "{minor}"?' in (found.hint or "")


def test_a_driver_branch_gets_the_driver_readers_hint() -> None:
    for branch in ("R570", "r570"):
        found = only(cuda_table('"12.8"', branch), "[cuda].driver-floor")
        assert "branch 570" in (found.hint or "")


@pytest.mark.parametrize(
    ("line", "fix"),
    [
        ("--index-url https://example.org/simple", "[pypi].index-url"),
        ("-i https://example.org/simple", "[pypi].index-url"),
        ("--extra-index-url https://example.org/simple", "[pypi].extra-index-urls"),
        ("-f ./wheels", "[pypi].find-links"),
        ("-r requirements.txt", "mlenv init --from requirements.txt"),
        ("-c constraints.txt", "[pypi].constraints"),
        ("--pre", 'prerelease = "allow"'),
        ("-e .", "[pypi].find-links"),
        (".", "[pypi].find-links"),
        ("torch==2.7.0 --hash=sha256:" + "a" * 64, 'did you mean "torch==2.7.0"?'),
        ("numpy  # pinned", 'did you mean "numpy"?'),
        ("numpy *", 'did you mean "numpy"?'),
        ("numpy 1.26.*", 'did you mean "numpy==1.26.*"?'),
        ("https://h.example/torch-2.7.0-cp311-cp311-linux_x86_64.whl", '"torch==2.7.0"'),
        ("./wheels/torch-2.7.0-cp311-cp311-linux_x86_64.whl", '"torch==2.7.0"'),
        ("git+https://github.com/org/project", "[pypi].find-links"),
    ],
)
def test_requirement_lines_of_other_tools_get_their_fix(line: str, fix: str) -> None:
    text = f'{ENV}[pypi]\ndependencies = ["numpy>=1", {line!r}]\n'.replace("'", '"')
    found = only(text.replace('"numpy>=1", ', ""), "[pypi].dependencies[0]")
    assert repr(line) in found.message and fix in (found.hint or "")


def mutated_keys() -> list[tuple[str, str, str]]:
    """(table, key, a case or '_' spelling of it) for every key of the schema."""
    out = []
    for table, keys in MANIFEST_KEYS.items():
        for key in keys:
            for spelled in {key.upper(), key.title(), key.replace("-", "_")} - {key}:
                out.append((table, key, spelled))
    return out


@pytest.mark.parametrize(("table", "key", "spelled"), mutated_keys())
def test_case_and_underscore_spellings_of_keys_are_named(
    table: str, key: str, spelled: str
) -> None:
    if table:
        text = (
            f"{ENV}[{table}]\n{spelled} = 1\n"
            if table != "environment"
            else f"{ENV}{spelled} = 1\n"
        )
    else:
        text = f"{ENV}[{spelled}]\n"
    where = f"[{table}].{spelled}" if table else f"[{spelled}]"
    assert only(text, where).hint == f'did you mean "{key}"?'


def test_other_tools_keys_name_mlenvs() -> None:
    text = '[environment]\nname = "demo"\nrequires-python = ">=3.11"\n[[index]]\nurl = "u"\n'
    assert "[environment].python" in (only(text, "[environment].requires-python").hint or "")
    assert "[pypi].index-url" in (only(text, "[index]").hint or "")


@pytest.mark.parametrize(
    ("body", "where", "fix"),
    [
        ('[[pypi]]\ndependencies = ["numpy"]\n', "[pypi]", "single brackets"),
        ('[pypi.dependencies]\nnumpy = ">=1.26"\ntorch = "2.7.0"\nrich = "*"\n',
         "[pypi].dependencies", 'dependencies = ["numpy>=1.26", "torch==2.7.0", "rich"]'),
        ('[pypi]\nconstraints = { numpy = "<2.3" }\n', "[pypi].constraints",
         'constraints = ["numpy<2.3"]'),
        ('[conda]\nchannels = ["conda-forge"]\ndependencies = { python = "3.11.*" }\n',
         "[conda].dependencies", 'dependencies = ["python 3.11.*"]'),
        ('[pypi]\nindex-url = ["https://a.example/simple"]\n', "[pypi].index-url",
         "extra-index-urls"),
    ],
)  # fmt: skip
def test_tables_and_arrays_swapped_are_named(body: str, where: str, fix: str) -> None:
    assert fix in (only(ENV + body, where).hint or "")


def spellings_of(name: str) -> st.SearchStrategy[str]:
    """The same PEP 503 name with case and separators changed."""
    parts = name.replace("_", "-").replace(".", "-").split("-")
    return st.tuples(
        st.lists(
            st.sampled_from(["-", "_", "."]), min_size=len(parts) - 1, max_size=len(parts) - 1
        ),
        st.lists(st.booleans(), min_size=len(name), max_size=len(name)),
    ).map(
        lambda choice: "".join(
            (c.upper() if up else c)
            for c, up in zip(
                parts[0]
                + "".join(sep + part for sep, part in zip(choice[0], parts[1:], strict=True)),
                choice[1],
                strict=False,
            )
        )
    )


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    name=st.sampled_from(
        ["typing-extensions", "zope.interface", "numpy", "nvidia_cuda_runtime_cu12"]
    ),
    key=st.sampled_from(["dependencies", "constraints", "overrides"]),
)
def test_one_project_in_two_spellings_is_one_requirement_as_pip_reads_it(
    data: st.DataObject, name: str, key: str
) -> None:
    """pip and uv take `LocalExtras[bar]` beside `localextras[bar]` (pip's
    test_install_distribution_duplicate_extras, a resolver scenario); only the same text twice
    is refused, as a slip of the hand."""
    first, second = data.draw(spellings_of(name)), data.draw(spellings_of(name))
    text = f'{ENV}[pypi]\n{key} = ["{first}<9", "{second}<9"]\n'
    if first == second:
        found = only(text, f"[pypi].{key}")
        assert "listed more than once" in found.message
    else:
        assert len(getattr(accepted(text).pypi, key)) == 2
    different = f'{ENV}[pypi]\n{key} = ["{first}<9", "{second}>1"]\n'  # both bounds: kept
    assert len(getattr(accepted(different).pypi, key)) == 2


def test_an_imported_file_listing_one_project_in_two_spellings_writes_it_once(
    tmp_path: Path,
) -> None:
    code, output, manifest = init_from(
        tmp_path, "requirements.txt", "numpy<3\nNumPy<3\nzope.interface\nzope-interface\nrich\n",
        "--name", "demo", "--python", "3.11",
    )  # fmt: skip
    assert code == 0, output
    pypi = manifest["pypi"]
    assert isinstance(pypi, dict) and pypi["dependencies"] == ["numpy<3", "zope.interface", "rich"]


@pytest.mark.parametrize("command", [["lock"], ["verify"], ["show"]])
def test_the_commands_refuse_with_exit_1_naming_file_key_value_and_fix(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "demo"\npython = 3.10\n[cuda]\nversion = 12.10\n'
        'driver-floor = "570.86.15"\n[pypi]\ndependencies = ["torch==2.7.0 --hash=sha256:ab"]\n'
    )
    code, _, err = run_in_process(command, tmp_path)
    assert code == 1 and "Traceback" not in err
    assert "mlenv.toml: [cuda].version: expected a string, got a number 12.1" in err
    assert 'version = "12.1" or version = "12.10"' in err
    assert 'python = "3.10"' in err and 'python = "3.1"' not in err
    assert "[pypi].dependencies[0]: 'torch==2.7.0 --hash=sha256:ab'" in err
    assert 'did you mean "torch==2.7.0"?' in err


@pytest.mark.parametrize(
    ("body", "where", "told"),
    [
        ('[pypi]\nindex-strategy = "unsafe-best-match"\n', "[pypi].index-strategy",
         'mlenv\'s is "best-match"'),
        ('[pypi]\nindex-strategy = "unsafe-first-match"\n', "[pypi].index-strategy",
         "no mlenv equivalent"),
        ('[pypi]\nprerelease = "if-necessary-or-explicit"\n', "[pypi].prerelease",
         'mlenv\'s is "fallback"'),
        ('[pypi]\nprerelease = "explicit"\n', "[pypi].prerelease", "no mlenv equivalent"),
        ('[build]\noutputs = ["docker"]\n', "[build].outputs[0]", 'mlenv\'s is "oci"'),
        ('[conda]\nchannels = ["-c conda-forge"]\n', "[conda].channels[0]",
         'write the channel alone, "conda-forge"'),
        ('[conda]\nchannels = ["conda-forge"]\ndependencies = ["pip:"]\n',
         "[conda].dependencies[0]", "[pypi].dependencies"),
        ('[conda]\nchannels = ["conda-forge"]\ndependencies = ["- numpy"]\n',
         "[conda].dependencies[0]", 'write "numpy"'),
    ],
)  # fmt: skip
def test_other_tools_choices_are_named_not_misread(body: str, where: str, told: str) -> None:
    found = only(ENV + body, where)
    assert told in found.message and "did you mean" not in found.message


@pytest.mark.parametrize(
    ("body", "where", "fix"),
    [
        ('glibc = "manylinux2014"\n', "[environment].glibc", 'did you mean "2.17"?'),
        ('glibc = "manylinux_2_28_x86_64"\n', "[environment].glibc", 'did you mean "2.28"?'),
        ('glibc = "glibc 2.31"\n', "[environment].glibc", 'did you mean "2.31"?'),
        ('glibc = "2.28.0"\n', "[environment].glibc", 'did you mean "2.28"?'),
        ('glibc = 2.3\n', "[environment].glibc", 'glibc = "2.30"'),
        ('[pypi]\ndependencies = ["numpy; platform == \'linux\'"]\n', "[pypi].dependencies[0]",
         'did you mean "sys_platform" for "platform"?'),
        ('[pypi]\ndependencies = ["torch @ https://h.example/torch-2.7.0-cp311-none-any.whl"]\n',
         "[pypi].dependencies[0]", '"torch==2.7.0"'),
        ('[build]\nimage-tar = "false"\n', "[build].image-tar", "image-tar = false without"),
        ('[build]\nlayers = "4"\n', "[build].layers", "layers = 4 without quotes"),
        ('[pypi]\ndependencies = ["numpy^1.26"]\n', "[pypi].dependencies[0]",
         'did you mean "numpy>=1.26,<2.0.0"?'),
        ('[pypi]\nconstraints = ["numpy~1.26"]\n', "[pypi].constraints[0]",
         'did you mean "numpy>=1.26,<1.27.0"?'),
        ('[pypi.dependencies]\nnumpy = "^1.26"\n', "[pypi].dependencies",
         'dependencies = ["numpy>=1.26,<2.0.0"]'),
    ],
)  # fmt: skip
def test_more_hand_spellings_get_their_fix(body: str, where: str, fix: str) -> None:
    assert fix in (only(ENV + body, where).hint or "")


def test_a_name_in_another_case_or_with_blanks_is_hinted_in_dockers_spelling() -> None:
    for written in ("My-Env", "my env", "Detector_V2"):
        text = ENV.replace('"demo"', f'"{written}"')
        meant = only(text, "[environment].name").hint
        assert meant is not None and meant.startswith("did you mean")
        accepted(ENV.replace("demo", meant.split('"')[1]))  # the fix is a name mlenv takes


SCALARS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["cu128", "py311", "^1.2", "~1", "a ^1 || ^3", "x; os == 'y'", "- a", "-c b"]),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_value_at_any_key_is_read_or_refused_by_key(data: st.DataObject) -> None:
    """The hints added here run only on values already wrong: none may raise in their place."""
    from mlenv.manifest_read import parse

    table = data.draw(st.sampled_from([t for t in MANIFEST_KEYS if t]))
    key = data.draw(st.sampled_from(MANIFEST_KEYS[table]))
    manifest: dict[str, dict[str, object]] = {
        "environment": {"name": "demo", "python": "3.11"},
        table: {},
    }
    if table == "cuda":
        manifest["cuda"] = {"version": "12.8", "driver-floor": "570.86.15"}
    manifest[table][key] = data.draw(VALUES)
    try:
        parse(manifest)
    except ManifestError as exc:
        assert all(p.where.startswith("mlenv.toml: [") for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(
    line=st.text(alphabet=st.sampled_from("ab1.-_ ^~=<>*;:@/#'\"[]|!"), max_size=24),
    key=st.sampled_from(["dependencies", "constraints", "overrides"]),
    spec=st.text(alphabet=st.sampled_from("1.^~*|=<>, x"), max_size=10),
)
def test_any_requirement_line_or_table_is_read_or_refused_by_key(
    line: str, key: str, spec: str
) -> None:
    from mlenv.manifest_read import parse

    for value in ([line], {"a": spec}):
        try:
            parse({"environment": {"name": "demo", "python": "3.11"}, "pypi": {key: value}})
        except ManifestError as exc:
            assert all(p.where.startswith(f"mlenv.toml: [pypi].{key}") for p in exc.problems)
