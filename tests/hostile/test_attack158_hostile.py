"""Adversary pass 158: hidden characters in free text, marker literals through `init --from`,
and the lock's CUDA reason under `verify`.

Findings this file pins (each failed before its fix):

- ``[pypi] dependencies``, ``constraints`` and ``overrides`` took a bidi override, a zero-width
  character, a C1 control or a line separator inside a marker's string literal
  (``foo; platform_release == "5\\u202e"``): the requirement reached the lock's [target]
  unnoticed. Every string of mlenv.toml is now held to one rule (``errors.hidden_problem``),
  refused at load with the key, the code point, its name and its position; accents, CJK and
  emoji (a zero-width joiner inside 👩‍💻) pass.
- The lock's [target] text (``requires-driver-because``, which the lock diff prints, and the
  manifest's requirements it records) was read with any character in it; one put there by
  hand is now refused by the lock reader, with the key and the code point.
- `mlenv init --from` collapsed every run of whitespace in a requirement, inside a marker's
  string literal too: ``platform_release == "5.15  x"`` became ``"5.15 x"``, another
  requirement, from requirements.txt, pyproject.toml, Poetry and environment.yml alike.
- ``requires-driver-because`` edited by hand (naming another package) passed `verify` and
  `lock --check`; verify now re-derives it as it re-derives the driver, and `mlenv lock`
  writes it again. A wheel whose CUDA only its METADATA gave is said to be taken as recorded.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import lockfile_read, lockfile_render
from mlenv.errors import MlenvError, ProblemsError, hidden_problem
from mlenv.importers.files import import_file
from mlenv.manifest_read import loads
from mlenv.toml_strings import basic
from tests.support.cli import run_mlenv
from tests.support.locks import sample
from tests.support.wheels import build_wheel, write_simple_index

HEAD = '[environment]\nname = "m"\npython = "3.11"\n'

HIDDEN = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\u200b", "\u200c", "\u200d", "\u200e", "\ufeff", "\x00", "\x1b", "\x7f", "\x85", "\x9b",
    "\u2028", "\u2029", "\u00ad", "\U000e0041",
]  # fmt: skip

FIELDS = [
    ("pypi", "dependencies", 'foo; platform_release == "5{c}x"', "[pypi].dependencies[0]"),
    ("pypi", "constraints", 'foo<2; extra == "a{c}b"', "[pypi].constraints[0]"),
    ("pypi", "overrides", 'foo==1; os_name == "po{c}six"', "[pypi].overrides[0]"),
    ("environment", "prefix", "/opt/m{c}x", "[environment].prefix"),
    ("environment", "interpreter", "/usr/bin/python3{c}", "[environment].interpreter"),
    ("conda", "dependencies", "numpy >=1.26{c}", "[conda].dependencies[0]"),
]


def _manifest(table: str, key: str, value: str) -> str:
    listed = key in ("dependencies", "constraints", "overrides")
    text = f"[{basic(value)}]" if listed else basic(value)  # a hidden character as its escape
    if table == "environment":
        return HEAD + f"{key} = {text}\n"
    extra = 'channels = ["conda-forge"]\n' if table == "conda" else ""
    return HEAD + f"[{table}]\n{extra}{key} = {text}\n"


@pytest.mark.parametrize("char", HIDDEN)
@pytest.mark.parametrize(("table", "key", "template", "shown"), FIELDS)
def test_every_free_text_field_refuses_a_hidden_character(
    char: str, table: str, key: str, template: str, shown: str
) -> None:
    value = template.format(c=char)
    with pytest.raises(ProblemsError) as caught:
        loads(_manifest(table, key, value), "proj/mlenv.toml")
    [problem] = caught.value.problems
    assert problem.where == f"proj/mlenv.toml: {shown}"
    assert f"U+{ord(char):04X}" in problem.message
    assert f"at position {value.index(char) + 1}" in problem.message
    assert problem.hint


@pytest.mark.parametrize(
    "literal",
    [
        "café naïve",
        "漢字かな한글",
        "😀 🚀",
        "👩\u200d💻 ❤\ufe0f 👍🏽 🏳\ufe0f\u200d🌈",
        "a\tb",
        "5.15  x",
    ],
)
def test_visible_text_in_a_marker_literal_still_loads(literal: str) -> None:
    for key in ("dependencies", "constraints", "overrides"):
        value = f'foo; platform_release == "{literal}"'
        manifest = loads(_manifest("pypi", key, value))
        assert value in getattr(manifest.pypi, key)


_HIDDEN_CHARS = st.characters(categories=["Cc", "Cf", "Zl", "Zp"]).filter(lambda c: c != "\t")
_VISIBLE = st.text(st.characters(categories=["L", "N", "Zs"], exclude_characters='"'), max_size=8)


@settings(max_examples=150, deadline=None)
@given(_VISIBLE, _HIDDEN_CHARS, _VISIBLE)
def test_a_hidden_character_anywhere_in_a_literal_is_named_by_code_point(
    before: str, char: str, after: str
) -> None:
    value = f'foo; platform_release == "{before}{char}{after}"'
    with pytest.raises(ProblemsError) as caught:
        loads(_manifest("pypi", "dependencies", value))
    [problem] = caught.value.problems
    first = next(i for i, c in enumerate(value) if hidden_problem(c) is not None)
    assert f"U+{ord(value[first]):04X}" in problem.message
    assert f"at position {first + 1}" in problem.message


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200b", "\x1b", "\x85", "\u2028"])
def test_the_lock_reader_refuses_hidden_text_in_its_target(char: str) -> None:
    good = lockfile_render.render(sample())
    text = good.replace(
        'driver-floor = "550.54.14"\n',
        'driver-floor = "550.54.14"\nrequires-driver = "550.54.15"\n'
        f'requires-driver-because = "lib 2.0 (CUDA 12.4 Update 1){char}evil"\n'.replace(
            char, f"\\u{ord(char):04x}"
        ),
    )
    assert text != good
    with pytest.raises(ProblemsError) as caught:
        lockfile_read.loads(text, "here/mlenv.lock")
    [problem] = caught.value.problems
    assert problem.where == "here/mlenv.lock: target.requires-driver-because"
    assert f"U+{ord(char):04X}" in problem.message
    requirement = good.replace('requirements = ["app"]', 'requirements = ["app\\u202e"]')
    with pytest.raises(ProblemsError, match=r"target\.requirements\[0\]"):
        lockfile_read.loads(requirement)


def test_a_lock_reason_with_emoji_and_accents_is_still_read() -> None:
    good = lockfile_render.render(sample())
    text = good.replace(
        'driver-floor = "550.54.14"\n',
        'driver-floor = "550.54.14"\nrequires-driver-because = "café 漢字 👩\\u200d💻"\n',
    )
    assert lockfile_read.loads(text).target.requires_driver_because == "café 漢字 👩\u200d💻"


# ---------------------------------------------------------------------------------------------
# init --from: a marker's string literal is kept byte for byte


def _import_sources(tmp: Path, literal: str) -> dict[str, Path]:
    requirement = f'foo ;  platform_release  ==  "{literal}"'
    marker = json.dumps(f'platform_release == "{literal}"', ensure_ascii=False)
    texts = {
        "req/requirements.txt": requirement + "\n",
        "hash/requirements.txt": f'foo==1.0 ;  platform_release == "{literal}"  '
        f"--hash=sha256:{'a' * 64}\n",
        "pep621/pyproject.toml": "[project]\nname = 'x'\nversion = '1'\ndependencies = ["
        + json.dumps(requirement, ensure_ascii=False)
        + "]\n",
        "poetry/pyproject.toml": "[tool.poetry]\nname = 'x'\nversion = '1'\n"
        "[tool.poetry.dependencies]\npython = '^3.11'\n"
        f"foo = {{ version = '^1', markers = {marker} }}\n",
        "conda/environment.yml": "name: x\nchannels: [conda-forge]\ndependencies:\n"
        "  - python=3.11\n  - pip\n  - pip:\n    - "
        + json.dumps(requirement, ensure_ascii=False)
        + "\n",
    }
    paths = {}
    for name, text in texts.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


# What every importer's format carries as it is: no quote, no comment or option start, no
# backslash, no ${VAR}; double spaces and tabs are the point.
_LITERAL = st.text(
    st.one_of(
        st.sampled_from([" ", "\t"]),
        st.characters(categories=["L", "N", "Zs"], exclude_characters="\"'"),
        st.sampled_from(list(".,;:()[]_+=<>!~@%&*")),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(_LITERAL)
def test_every_importer_keeps_a_marker_literal_byte_for_byte(tmp_path: Path, literal: str) -> None:
    if not literal.strip():
        literal = f"x{literal}x"
    for name, path in _import_sources(tmp_path, literal).items():
        imported = import_file(path)
        [text] = imported.pypi
        assert f'"{literal}"' in text, (name, text)
        assert "  platform_release" not in text and "==  " not in text, (name, text)


def test_init_from_writes_a_manifest_that_keeps_the_literal(tmp_path: Path) -> None:
    literal = "5.15  x\tLTS  é"
    (tmp_path / "requirements.txt").write_text(f'foo;  platform_release == "{literal}"\n')
    result = run_mlenv(["init", "--from", "requirements.txt"], tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = loads((tmp_path / "mlenv.toml").read_text())
    assert manifest.pypi.dependencies == (f'foo; platform_release == "{literal}"',)


def test_init_from_refuses_a_hidden_character_in_a_literal(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text('foo; platform_release == "5\u202ex"\n')
    result = run_mlenv(["init", "--from", "requirements.txt"], tmp_path)
    assert result.returncode == 1
    assert "U+202E" in result.stderr and "[pypi].dependencies[0]" in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()


# ---------------------------------------------------------------------------------------------
# verify re-derives the lock's CUDA fields

X86 = "cp311-cp311-manylinux_2_28_x86_64"
RUNTIME_TAG = "py3-none-manylinux2014_x86_64"
RUNTIME = 'cuda = "12.4"\nrequires-driver = "550.54.15"'
TORCH = 'source = "pypi"\ncuda = "12.4"\nrequires-driver = "550.54.14"'
BECAUSE = 'requires-driver-because = "nvidia-cuda-runtime-cu12 12.4.127 (CUDA 12.4 Update 1)"'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    tmp = tmp_path_factory.mktemp("cudaproject")
    url = write_simple_index(
        tmp / "pypi",
        [
            build_wheel("torch", "2.5.1+cu124", tag=X86),
            build_wheel("nvidia-cuda-runtime-cu12", "12.4.127", tag=RUNTIME_TAG),
            build_wheel("numpy", "2.0.0", tag=X86),
        ],
    )
    root = tmp / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        HEAD + 'platforms = ["linux-64"]\n[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
        f'[pypi]\nindex-url = "{url}"\n'
        'dependencies = ["torch==2.5.1+cu124", "nvidia-cuda-runtime-cu12", "numpy"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp / "cache")}
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = (root / "mlenv.lock").read_text()
    assert RUNTIME in lock and TORCH in lock and BECAUSE in lock
    return root, env, lock


FAKE = (
    '\n[[platform.linux-64.package]]\nname = "fakepkg"\nversion = "1.0"\n'
    'filename = "fakepkg-1.0-py3-none-any.whl"\nurl = "file:///x/fakepkg-1.0-py3-none-any.whl"\n'
    f'sha256 = "{"a" * 64}"\nsize = 10\nindex = "file:///x"\ndependencies = []\n'
    'source = "pypi"\n'
)

EDITS = {
    "reason names another package": (
        BECAUSE,
        'requires-driver-because = "torch 2.5.1+cu124 (CUDA 12.4 GA)"',
        ["requires-driver-because", "torch 2.5.1+cu124 (CUDA 12.4 GA)",
         "nvidia-cuda-runtime-cu12 12.4.127 (CUDA 12.4 Update 1)"],
    ),
    "reason is free text": (
        BECAUSE,
        'requires-driver-because = "nvidia-cuda-runtime-cu12 12.4.127 (reviewed, fine)"',
        ["requires-driver-because", "reviewed, fine"],
    ),
    "reason says the target": (
        BECAUSE, 'requires-driver-because = "target CUDA 12.4"', ["requires-driver-because"]
    ),
    "a package's driver floor lowered": (
        RUNTIME, 'cuda = "12.4"\nrequires-driver = "525.60.13"', ["525.60.13", "550.54.15"]
    ),
    "a package's CUDA major changed": (
        TORCH, 'source = "pypi"\ncuda = "11.8"\nrequires-driver = "520.61.05"', ["CUDA 11.8"]
    ),
    "a package's CUDA dropped": (TORCH, 'source = "pypi"', ["torch", "no requires-driver"]),
    "the target's driver lowered": (
        'requires-driver = "550.54.15"\nrequires-driver-because',
        'requires-driver = "550.54.14"\nrequires-driver-because',
        ["550.54.14", "550.54.15"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("edit", list(EDITS))
def test_verify_and_lock_check_refuse_a_hand_edited_cuda_field(
    project: tuple[Path, dict[str, str], str], edit: str
) -> None:
    root, env, lock = project
    old, new, said = EDITS[edit]
    assert lock.count(old) == 1
    (root / "mlenv.lock").write_text(lock.replace(old, new))
    try:
        verified = run_mlenv(["verify"], root, env)
        assert verified.returncode == 1, verified.stdout
        assert "lock-driver-mismatch" in verified.stdout or "lock-cuda" in verified.stdout
        for text in said:
            assert text in verified.stdout, (text, verified.stdout)
        assert "mlenv lock" in verified.stdout  # the hint
        assert run_mlenv(["lock", "--check"], root, env).returncode == 1
        assert run_mlenv(["lock"], root, env).returncode == 0  # writes the fields again
        assert (root / "mlenv.lock").read_text() == lock
    finally:
        (root / "mlenv.lock").write_text(lock)


def test_a_fake_package_entry_fails_verify(project: tuple[Path, dict[str, str], str]) -> None:
    root, env, lock = project
    (root / "mlenv.lock").write_text(lock + FAKE)
    try:
        verified = run_mlenv(["verify"], root, env)
        assert verified.returncode == 1 and "fakepkg" in verified.stdout
        assert run_mlenv(["lock", "--check"], root, env).returncode == 1
    finally:
        (root / "mlenv.lock").write_text(lock)


def test_reordered_entries_are_the_same_lock(project: tuple[Path, dict[str, str], str]) -> None:
    """The entries' order carries nothing: verify judges the values, which are unchanged."""
    root, env, lock = project
    head, *entries = lock.split("\n[[platform.linux-64.package]]")
    (root / "mlenv.lock").write_text(
        head + "".join(f"\n[[platform.linux-64.package]]{e.rstrip()}\n" for e in entries[::-1])
    )
    try:
        edited, written = (
            lockfile_read.loads((root / "mlenv.lock").read_text()),
            lockfile_read.loads(lock),
        )
        assert lockfile_render.render(edited) == lock  # the same values, in another order
        assert edited.target == written.target
        assert run_mlenv(["verify"], root, env).returncode == 0
    finally:
        (root / "mlenv.lock").write_text(lock)


def test_verify_says_which_cuda_it_took_as_recorded(tmp_path: Path) -> None:
    """torch 2.5.1 from PyPI is CUDA 12.4 only by its Requires-Dist, which verify reads from
    no index: it says so instead of passing it in silence."""
    line = 'nvidia-cuda-runtime-cu12==12.4.127; platform_system == "Linux"'
    url = write_simple_index(
        tmp_path / "pypi",
        [
            build_wheel("torch", "2.5.1", tag=X86, requires_dist=(line,)),
            build_wheel("nvidia-cuda-runtime-cu12", "12.4.127", tag=RUNTIME_TAG),
        ],
    )
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        HEAD + 'platforms = ["linux-64"]\n[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["torch==2.5.1"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], root, env).returncode == 0
    verified = run_mlenv(["verify"], root, env)
    assert verified.returncode == 0, verified.stdout
    assert "CUDA taken as recorded" in verified.stdout
    assert "torch 2.5.1 (linux-64): CUDA 12.4" in verified.stdout
    assert "nvidia-cuda-runtime-cu12 12.4.127 (linux-64)" not in verified.stdout.split("): ")[0]


def test_hidden_problem_names_each_category() -> None:
    for char in HIDDEN:
        problem = hidden_problem(f"ab{char}cd")
        assert problem is not None and "at position 3" in problem, char
        assert unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cn")
    assert hidden_problem("a\tb") is None
    with pytest.raises(MlenvError):
        loads(_manifest("pypi", "dependencies", 'foo; os_name == "\u200dx"'))
