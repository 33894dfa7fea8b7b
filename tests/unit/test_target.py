"""Tags and markers come from the manifest, never from the interpreter running mlenv."""

from __future__ import annotations

from packaging.markers import Marker
from packaging.tags import Tag

from mlenv.manifest_read import loads
from mlenv.target import Target


def test_tags_for_another_python_and_architecture() -> None:
    target = Target("linux-aarch64", "3.12", "2.28")
    assert target.tags[0] == Tag("cp312", "cp312", "manylinux_2_28_aarch64")
    assert Tag("cp312", "abi3", "manylinux2014_aarch64") in target.tag_priority
    assert Tag("py3", "none", "any") in target.tag_priority
    assert not any(t.platform.endswith("x86_64") for t in target.tags)
    assert not any(t.interpreter == "cp311" and t.abi == "cp311" for t in target.tags)


def test_glibc_floor_limits_manylinux_tags() -> None:
    old = Target("linux-64", "3.11", "2.17")
    assert Tag("cp311", "cp311", "manylinux_2_28_x86_64") not in old.tag_priority
    assert Tag("cp311", "cp311", "manylinux2014_x86_64") in old.tag_priority
    assert Tag("cp311", "cp311", "manylinux1_x86_64") in old.tag_priority


def test_plain_linux_tag_is_accepted_last_as_pip_and_uv_do() -> None:
    """The PyTorch index's linux_x86_64 CUDA wheels are lockable, below every portable tag."""
    target = Target("linux-64", "3.11")
    priority = target.tag_priority
    plain = priority[Tag("cp311", "cp311", "linux_x86_64")]
    assert Tag("cp311", "abi3", "linux_x86_64") in priority
    assert Tag("py3", "none", "linux_x86_64") in priority
    assert plain > priority[Tag("py3", "none", "any")]
    assert plain > max(rank for tag, rank in priority.items() if "manylinux" in tag.platform)
    assert all(tag.platform == "linux_x86_64" for tag in target.tags[plain:])
    assert Tag("cp311", "cp311", "linux_aarch64") not in priority
    assert len(set(target.tags)) == len(target.tags)


def test_abi3_ranks_below_exact_abi_and_above_pure() -> None:
    priority = Target("linux-64", "3.11").tag_priority
    exact = priority[Tag("cp311", "cp311", "manylinux_2_17_x86_64")]
    abi3 = priority[Tag("cp311", "abi3", "manylinux_2_17_x86_64")]
    pure = priority[Tag("py3", "none", "any")]
    assert exact < abi3 < pure


def test_markers_describe_the_target() -> None:
    target = Target("linux-aarch64", "3.10")
    assert Marker("platform_machine == 'aarch64' and python_version < '3.11'").evaluate(
        target.markers
    )
    assert not Marker("sys_platform == 'darwin'").evaluate(target.markers)
    assert Marker("python_full_version >= '3.10.0'").evaluate(target.markers)


def test_one_target_per_platform() -> None:
    manifest = loads(
        '[environment]\nname = "x"\npython = "3.12"\nplatforms = ["linux-64", "linux-aarch64"]\n'
        'glibc = "2.31"\n'
    )
    assert Target.for_environment(manifest.environment) == (
        Target("linux-64", "3.12", "2.31"),
        Target("linux-aarch64", "3.12", "2.31"),
    )


def test_equal_targets_share_their_tags_and_others_have_their_own() -> None:
    """Protects: the tags computed once for a target serve an equal one (the lock's reader
    builds its own), and never a target that differs in platform, interpreter or glibc."""
    target = Target("linux-64", "3.11", "2.28")
    assert Target("linux-64", "3.11", "2.28").tags is target.tags
    older = Target("linux-64", "3.11", "2.17").tags
    assert Tag("cp311", "cp311", "manylinux_2_28_x86_64") in target.tags
    assert Tag("cp311", "cp311", "manylinux_2_28_x86_64") not in older
    assert Tag("cp312", "cp312", "manylinux_2_28_x86_64") in Target("linux-64", "3.12").tags
    arm = Target("linux-aarch64", "3.11", "2.28").tags
    assert Tag("cp311", "cp311", "manylinux_2_28_aarch64") in arm
    assert Tag("cp311", "cp311", "manylinux_2_28_x86_64") not in arm


def test_another_abi_of_the_targets_own_python_is_not_another_python() -> None:
    """A debug or free-threaded build (cp312d, cp312t) on CPython 3.12 is the target's Python
    with another ABI: saying "built for another Python (cp312), not CPython 3.12" misleads."""
    target = Target("linux-64", "3.12", "2.28")
    for abi in ("cp312d", "cp312t"):
        assert target.other_python((Tag("cp312", abi, "manylinux_2_17_x86_64"),)) == []
    newer = (Tag("cp313", "abi3", "manylinux_2_17_x86_64"), Tag("py313", "none", "any"))
    assert target.other_python(newer) == ["py313", "cp313"]
    older = (Tag("cp311", "cp311", "manylinux_2_17_x86_64"),)
    assert target.other_python(older) == ["cp311"]
