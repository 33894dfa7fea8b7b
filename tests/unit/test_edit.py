"""`mlenv.edit`: dependency changes that keep the user's file byte for byte around them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.edit import EditError, add, remove, spec_name
from mlenv.errors import ManifestError
from mlenv.upgrade import Upgrade

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "mlenv.toml.example").read_text()
HAND = (ROOT / "fixtures" / "edit" / "hand-formatted.toml").read_text()
INLINE = (ROOT / "fixtures" / "edit" / "inline.toml").read_text()


def test_add_to_the_example_inserts_one_line_and_nothing_else() -> None:
    """Appending to a multi-line array adds one line in the array's indentation and style."""
    edited = add(EXAMPLE, ["torch==2.5.1+cu124"])
    anchor = '    "nvidia-nvtx-cu12==12.4.127",           # NVTX annotations, ~100 kB\n'
    expected = EXAMPLE.replace(anchor, anchor + '    "torch==2.5.1+cu124",\n')
    assert edited.text == expected
    assert [str(e) for e in edited.edits] == ["+ 'torch==2.5.1+cu124' to [pypi].dependencies"]
    assert edited.names == ("torch",)


def test_replace_keeps_the_items_inline_comment_and_quoting() -> None:
    """A spec for a listed name replaces that item in place; its comment and quotes stay."""
    edited = add(HAND, ["NumPy>=2"])
    old = "  'numpy>=1.26,<3',   # keep below 3 until the C API settles\n"
    assert edited.text == HAND.replace(old, old.replace("numpy>=1.26,<3", "NumPy>=2"))
    assert [(e.old, e.new) for e in edited.edits] == [("numpy>=1.26,<3", "NumPy>=2")]


def test_add_after_a_last_item_without_comma() -> None:
    """The previous last item gains the comma TOML needs; comments and blank lines stay."""
    edited = add(HAND, ["torch"])
    old = "  'pyarrow>=15'       # the last item has no comma\n"
    new = "  'pyarrow>=15',       # the last item has no comma\n  'torch'\n"
    assert edited.text == HAND.replace(old, new)


def test_conda_add_and_remove_in_a_tab_indented_literal_array() -> None:
    """Conda specs are matched by name ("python 3.11.*" is python) and written like their
    neighbours (a tab, a literal string, a trailing comma)."""
    edited = add(HAND, ["cupy-cuda12x >=13"], conda=True)
    old = "\t'libgomp',\n"
    assert edited.text == HAND.replace(old, old + "\t'cupy-cuda12x >=13',\n")
    replaced = add(HAND, ["conda-forge::python 3.11.9"], conda=True)
    assert "\t'conda-forge::python 3.11.9',   # tabs, literal strings\n" in replaced.text
    removed = remove(HAND, ["libgomp"])
    assert removed.text == HAND.replace(old, "")


def test_remove_takes_the_items_comment_and_nothing_else() -> None:
    removed = remove(HAND, ["numpy", "pyarrow"])
    expected = HAND.replace("  'numpy>=1.26,<3',   # keep below 3 until the C API settles\n", "")
    expected = expected.replace("  'pyarrow>=15'       # the last item has no comma\n", "")
    assert removed.text == expected
    assert {e.old for e in removed.edits} == {"numpy>=1.26,<3", "pyarrow>=15"}


def test_single_line_array_and_markers_with_quotes() -> None:
    """A one-line array stays one line; a marker's double quotes are escaped correctly."""
    edited = add(INLINE, ['tqdm; python_version < "3.13"', "Requests>=2.31"])
    assert edited.text == INLINE.replace(
        '["requests>=2", "rich"]',
        '["Requests>=2.31", "rich", "tqdm; python_version < \\"3.13\\""]',
    )
    assert edited.manifest.pypi.dependencies[-1] == 'tqdm; python_version < "3.13"'


def test_missing_table_and_key_are_created() -> None:
    bare = '[environment]\nname = "x"\npython = "3.11"\n\n[build]\noutputs = ["oci"]\n'
    assert add(bare, ["a"]).text == bare + '\n[pypi]\ndependencies = ["a"]\n'
    with_table = bare.replace("[build]", '[pypi]\nindex-url = "https://x.org/simple"\n\n[build]')
    assert add(with_table, ["a"]).text == with_table.replace(
        '/simple"\n', '/simple"\ndependencies = ["a"]\n'
    )


def test_platform_adds_a_machine_marker_and_checks_the_platform() -> None:
    edited = add(HAND, ["nvtx; python_version >= '3.10'"], platform="linux-aarch64")
    assert edited.manifest.pypi.dependencies[-1] == (
        'nvtx; (python_version >= "3.10") and platform_machine == "aarch64"'
    )
    with pytest.raises(EditError, match="does not target 'linux-aarch64'"):
        add(INLINE, ["x"], platform="linux-aarch64")
    with pytest.raises(EditError, match="conda specs have none"):
        add(HAND, ["x"], conda=True, platform="linux-64")


def test_same_spec_again_is_no_edit() -> None:
    edited = add(HAND, ["scipy"])
    assert edited.edits == ()
    assert edited.text == HAND


def test_bad_input_raises_before_any_text_exists() -> None:
    """Bad specs, unknown names and broken manifests are errors naming what is wrong."""
    with pytest.raises(EditError, match="not a PEP 508 requirement"):
        add(HAND, ["numpy>>2"])
    with pytest.raises(EditError, match="not in the manifest: nope"):
        remove(HAND, ["scipy", "nope"])
    with pytest.raises(ManifestError, match="direct URL"):
        add(HAND, ["x @ https://example.org/x.whl"])
    with pytest.raises(ManifestError):
        add(HAND.replace("[build]", "[build"), ["x"])
    conda_without_channels = INLINE
    with pytest.raises(ManifestError, match="no channel"):
        add(conda_without_channels, ["libgomp"], conda=True)


def test_spec_name_matches_pep503_and_conda_forms() -> None:
    assert spec_name("Foo_Bar[x]>=1; os_name == 'posix'", "pypi") == "foo-bar"
    assert spec_name("conda-forge::Py_Torch >=2", "conda") == "py_torch"  # conda_name
    assert spec_name("libgomp>=12", "conda") == "libgomp"


_NAMES = st.from_regex(r"\A[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,5})?\Z").filter(
    lambda n: n not in {"numpy", "nvidia-cuda-runtime-cu12", "nvidia-nvtx-cu12"}
)
_SPECS = st.sampled_from(["", ">=1", "==2.0.1", ">=1,<3", "~=1.4", "[extra]>=0.1"])


@settings(max_examples=60, deadline=None)
@given(name=_NAMES, spec=_SPECS)
def test_add_then_remove_gives_back_the_same_bytes(name: str, spec: str) -> None:
    """Whatever is added and removed again, the example's bytes come back exactly."""
    added = add(EXAMPLE, [name + spec])
    assert added.text != EXAMPLE
    assert remove(added.text, [name.upper()]).text == EXAMPLE


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (  # CRLF line endings stay CRLF
            '[environment]\r\nname = "x"\r\npython = "3.11"\r\n\r\n[pypi]\r\n'
            'dependencies = [\r\n    "a",\r\n]\r\n',
            '[environment]\r\nname = "x"\r\npython = "3.11"\r\n\r\n[pypi]\r\n'
            'dependencies = [\r\n    "a",\r\n    "b",\r\n]\r\n',
        ),
        (  # a dotted key
            'pypi.dependencies = ["a"]\n[environment]\nname = "x"\npython = "3.11"\n',
            'pypi.dependencies = ["a", "b"]\n[environment]\nname = "x"\npython = "3.11"\n',
        ),
        (  # an inline table
            'pypi = { dependencies = ["a"] }\n[environment]\nname = "x"\npython = "3.11"\n',
            'pypi = { dependencies = ["a", "b"] }\n[environment]\nname = "x"\npython = "3.11"\n',
        ),
    ],
)
def test_other_spellings_of_the_same_table(before: str, after: str) -> None:
    """However the user wrote [pypi], the new item goes into it and nothing else moves."""
    assert add(before, ["b"]).text == after
    assert remove(after, ["b"]).text == before


@pytest.mark.parametrize("spec", ["typing_extensions>=4", "_openmp_mutex", "foo-"])
def test_a_conda_add_moves_that_conda_package_only(spec: str) -> None:
    """Before (a review of attack 240): ``add`` named its conda packages by PEP 503, so
    ``typing_extensions`` freed conda-forge's ``typing-extensions`` (another package) and held
    its own pin; ``_openmp_mutex``, no PEP 508 name, failed as a bad ``--upgrade-package``."""
    with_channel = EXAMPLE + '\n[conda]\nchannels = ["conda-forge"]\ndependencies = []\n'
    edited = add(with_channel, [spec], conda=True)
    moves = Upgrade.edited(edited.names)
    name = spec_name(spec, "conda")
    assert moves.conda == {name}
    assert "typing-extensions" not in moves.conda
