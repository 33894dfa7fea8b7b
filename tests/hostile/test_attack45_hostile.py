"""OCI whiteouts: a name starting with ``.wh.`` is an order to a container runtime to delete,
not a file (image-spec layer.md). A package that ships one, in any layer, would make the
image lose files of other packages that the conda-pack archive still holds, past the path
ledger (its own path clashes with nobody's). Invariant 6 (``PathLedger.claim`` through
``mlenv.oci.whiteout``) refuses every such path; invariant 9 (``judge_placement``) every such
prefix, whose names become the layers' parent directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.install.ownership import Owner, PathClashError, PathLedger
from mlenv.oci.whiteout import whiteout_name
from mlenv.placement import judge_placement
from tests.support.conda_channel import build_conda_package
from tests.support.fetch_project import build_refusal
from tests.support.installs import install_test_wheels
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

_CONDA = Owner("evil-1.0-0.tar.bz2", "conda", "corrupt or malicious")
_WORDS = "is an OCI whiteout name"


@pytest.mark.parametrize(
    ("member", "name"),
    [
        (".wh.numpy", ".wh.numpy"),  # site-packages/numpy of another layer
        (".wh..wh..opq", ".wh..wh..opq"),  # every other package of site-packages
        ("evil/.wh.__init__.py", ".wh.__init__.py"),
        ("evil/.wh.sub/x.py", ".wh.sub"),
        ("evil-1.0.data/scripts/.wh.python3", ".wh.python3"),
        ("evil-1.0.data/data/.wh.etc/x", ".wh.etc"),
        ("evil-1.0.data/headers/.wh.h", ".wh.h"),
        ("evil-1.0.data/purelib/.wh.torch", ".wh.torch"),
    ],
)
def test_a_wheel_member_with_a_whiteout_name_is_refused(
    tmp_path: Path, member: str, name: str
) -> None:
    wheel = build_wheel("evil", "1.0", files={"evil/__init__.py": b"", member: b"x"})
    (tmp_path / wheel[0]).write_bytes(wheel[1])
    with pytest.raises(PathClashError) as caught:
        install_test_wheels([tmp_path / wheel[0]], tmp_path / "stage")
    text = caught.value.render()
    assert caught.value.where == wheel[0]
    assert repr(name) in text and _WORDS in text and member in text and "hint:" in text
    assert not (tmp_path / "stage").exists()


def test_an_entry_point_with_a_whiteout_name_is_refused(tmp_path: Path) -> None:
    """``bin/.wh.python3`` would delete the interpreter a base image keeps in ``bin``."""
    wheel = build_wheel(
        "evil",
        "1.0",
        files={"evil/__init__.py": b""},
        entry_points="[console_scripts]\n.wh.python3 = os:getcwd\n",
    )
    (tmp_path / wheel[0]).write_bytes(wheel[1])
    with pytest.raises(PathClashError) as caught:
        install_test_wheels([tmp_path / wheel[0]], tmp_path / "stage")
    assert "'.wh.python3'" in caught.value.render() and _WORDS in caught.value.render()


@pytest.mark.parametrize(
    "contents",
    [
        {"files": {"lib/.wh.libcuda.so.1": b""}},
        {"files": {".wh..wh..opq": b""}},
        {"files": {"share/.wh.x/y": b""}},
        {"symlinks": {"bin/.wh.python": "tool"}, "files": {"bin/tool": b""}},
        {
            "files": {
                "site-packages/tool/__init__.py": b"",
                "info/link.json": json.dumps(
                    {"noarch": {"type": "python", "entry_points": [".wh.pip = tool:main"]}}
                ).encode(),
            },
            "noarch": "python",
        },
    ],
)
def test_a_conda_path_with_a_whiteout_name_is_refused(
    tmp_path: Path, contents: dict[str, object]
) -> None:
    from mlenv.install.conda_packages import check_conda_packages
    from mlenv.install.safety import InstallError

    name, data = build_conda_package("evil", "1.0", "0", fmt="conda", **contents)  # type: ignore[arg-type]
    (tmp_path / name).write_bytes(data)
    with pytest.raises((InstallError, PathClashError)) as caught:
        check_conda_packages([(name, tmp_path / name)])
    assert caught.value.where == name and _WORDS in caught.value.render()


@pytest.mark.parametrize(
    "path",
    [".WH.numpy", "x.wh.y", ".whl", ".wh", "wh.x", "evil/.whatever", "..wh.x", "evil/a.wh."],
)
def test_names_that_only_look_like_whiteouts_install(path: str) -> None:
    """Runtimes match the prefix ``.wh.`` exactly and case-sensitively; nothing else is one."""
    assert PathLedger().claim(_CONDA, f"share/{path}", "file", content=("0" * 64, 1))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(st.sampled_from(".whWHx_-"), min_size=1, max_size=8), min_size=1, max_size=4)
)
def test_hypothesis_a_path_is_refused_when_a_name_is_a_whiteout(names: list[str]) -> None:
    path = "/".join(["share", *names])
    whiteout = any(name.startswith(".wh.") for name in names)
    other = any(name.startswith("-") or name in (".", "..") for name in names)
    try:
        PathLedger().claim(_CONDA, path, "file", content=("0" * 64, 1))
        refused = ""
    except PathClashError as error:
        refused = error.render()
    if whiteout and not other:
        assert _WORDS in refused
    if not whiteout:
        assert _WORDS not in refused
    assert (whiteout_name(path) is not None) == whiteout


@pytest.mark.parametrize(
    "prefix", ["/opt/.wh.mlenv/torch", "/opt/mlenv/.wh..wh..opq", "/.wh.opt/x"]
)
def test_a_prefix_with_a_whiteout_name_is_refused(prefix: str) -> None:
    """The prefix's names are the parent directories of every layer."""
    problems = judge_placement(prefix, None, "3.11").problems
    assert len(problems) == 1 and problems[0].key == "prefix"
    assert _WORDS in problems[0].message


def test_build_refuses_a_whiteout_end_to_end(tmp_path: Path) -> None:
    """As users run it: lock and fetch pass, build --offline exits 1 naming the wheel and the
    name, and writes no dist/."""
    wheel = build_wheel("evil", "1.0", files={"evil/__init__.py": b"", ".wh.numpy": b""})
    stderr = build_refusal(tmp_path / "project", wheel)
    assert wheel[0] in stderr and "'.wh.numpy'" in stderr and _WORDS in stderr
