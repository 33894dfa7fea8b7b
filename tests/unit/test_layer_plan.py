"""The layer split: a pure, stable function of the lock, and every file in exactly one layer."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.install.wheels import InstalledDistribution
from mlenv.layer_plan import AUTO_LAYERS, BIG_WHEEL, GROUPS, LayerPlan, plan_layers, split_entries
from mlenv.lockfile import LockedPackage
from mlenv.manifest import MAX_LAYERS, Layers
from mlenv.tarball import Entry, LayerError

MiB = 1 << 20
# The wheel sizes of the CUDA-13 torch 2.14.1 stack, as its lock records them (rounded).
TORCH_STACK = {
    "torch": 529 * MiB, "nvidia-cudnn-cu13": 527 * MiB, "nvidia-cublas": 403 * MiB,
    "triton": 236 * MiB, "nvidia-nccl-cu13": 206 * MiB, "nvidia-cufft": 204 * MiB,
    "nvidia-cusolver": 191 * MiB, "nvidia-cusparselt-cu13": 162 * MiB,
    "nvidia-cusparse": 139 * MiB, "nvidia-cuda-nvrtc": 86 * MiB, "nvidia-nvshmem-cu13": 57 * MiB,
    "nvidia-curand": 56 * MiB, "nvidia-nvjitlink": 40 * MiB, "nvidia-cuda-cupti": 10 * MiB,
    "cuda-bindings": 8 * MiB, "sympy": 6 * MiB, "nvidia-cuda-runtime": 2 * MiB,
    "networkx": 2 * MiB, "nvidia-cufile": MiB, "setuptools": 800_000, "mpmath": 500_000,
    "fsspec": 200_000, "nvidia-nvtx": 100_000, "jinja2": 130_000, "filelock": 90_000,
    "cuda-pathfinder": 80_000, "typing-extensions": 40_000, "markupsafe": 22_000,
    "cuda-toolkit": 2_000,
}  # fmt: skip
BIG = sorted(name for name, size in TORCH_STACK.items() if size >= BIG_WHEEL)


def package(name: str, size: int, version: str = "1.0") -> LockedPackage:
    filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    return LockedPackage(
        name=name,
        version=version,
        filename=filename,
        url=f"https://files.example/{filename}",
        sha256="a" * 64,
        size=size,
        index="https://pypi.org/simple",
    )


def stack(sizes: dict[str, int] = TORCH_STACK) -> list[LockedPackage]:
    return [package(name, size) for name, size in sizes.items()]


def owners(plans: tuple[LayerPlan, ...]) -> dict[str, int]:
    """Package -> the index of its layer; fails when a package is in two layers."""
    found: dict[str, int] = {}
    for index, plan in enumerate(plans):
        for name in plan.packages:
            assert name not in found, f"{name} is in two layers"
            found[name] = index
    return found


def group_of(name: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8]) % count + 1


def test_one_layer_is_the_whole_environment() -> None:
    assert plan_layers(stack(), 1) == (
        LayerPlan("environment", tuple(sorted(TORCH_STACK)), skeleton=True),
    )


def test_auto_gives_each_big_package_a_layer_and_groups_the_rest_by_name() -> None:
    plans = plan_layers(stack(), "auto")
    assert plans[0] == LayerPlan("skeleton", (), skeleton=True)
    assert [p.packages for p in plans[1 : 1 + len(BIG)]] == [(name,) for name in BIG]
    assert [p.name for p in plans[1 : 1 + len(BIG)]] == BIG
    groups = plans[1 + len(BIG) :]
    assert 1 <= len(groups) <= GROUPS
    numbers = [int(plan.name.split()[1]) for plan in groups]
    assert numbers == sorted(numbers)
    for number, plan in zip(numbers, groups, strict=True):
        assert plan.name == f"group {number} of {GROUPS}"
        assert {group_of(name, GROUPS) for name in plan.packages} == {number}
    assert owners(plans).keys() == TORCH_STACK.keys()
    # The threshold is inclusive and only the wheel size counts.
    edge = plan_layers([package("edge", BIG_WHEEL), package("under", BIG_WHEEL - 1)], "auto")
    assert [p.name for p in edge][:2] == ["skeleton", "edge"]
    assert edge[2].packages == ("under",)


def test_the_split_does_not_depend_on_input_order_or_name_spelling() -> None:
    packages = stack()
    expected = plan_layers(packages, "auto")
    assert plan_layers(list(reversed(packages)), "auto") == expected
    assert plan_layers(sorted(packages, key=lambda p: p.size), 5) == plan_layers(packages, 5)
    respelled = [dataclasses.replace(p, name=p.name.upper().replace("-", "_")) for p in packages]
    assert plan_layers(respelled, "auto") == expected


def test_a_small_package_bump_keeps_every_layer_s_membership() -> None:
    before = plan_layers(stack(), "auto")
    bumped = [package(p.name, 3 * p.size, "2.0") if p.name == "fsspec" else p for p in stack()]
    assert plan_layers(bumped, "auto") == before
    # A big package that stays big keeps its layer too.
    bigger = [package(p.name, 2 * p.size, "3.0") if p.name == "torch" else p for p in stack()]
    assert plan_layers(bigger, "auto") == before


def test_a_new_small_package_changes_only_its_group() -> None:
    before = plan_layers(stack(), "auto")
    after = plan_layers([*stack(), package("tqdm", 80_000)], "auto")
    changed = set(after) - set(before)
    assert len(changed) == 1
    (plan,) = changed
    assert "tqdm" in plan.packages
    assert plan.name == f"group {group_of('tqdm', GROUPS)} of {GROUPS}"
    assert set(before) - set(after) <= {dataclasses.replace(plan, packages=tuple(
        n for n in plan.packages if n != "tqdm"))}  # fmt: skip


def test_crossing_the_threshold_moves_a_package_between_a_group_and_its_own_layer() -> None:
    grown = {**TORCH_STACK, "sympy": BIG_WHEEL}
    plans = plan_layers(stack(grown), "auto")
    assert LayerPlan("sympy", ("sympy",)) in plans
    assert sum("sympy" in p.packages for p in plans) == 1


@pytest.mark.parametrize("limit", range(1, 2 + len(BIG) + GROUPS))
def test_an_integer_caps_the_layers_keeping_the_largest_alone(limit: int) -> None:
    plans = plan_layers(stack(), limit)
    assert len(plans) <= limit
    assert owners(plans).keys() == TORCH_STACK.keys()
    assert [p.skeleton for p in plans] == [True] + [False] * (len(plans) - 1)
    alone = [p.name for p in plans if p.packages == (p.name,)]
    by_size = sorted(BIG, key=lambda n: -TORCH_STACK[n])
    if limit == 1:
        assert alone == []
    elif limit <= len(BIG) + 1:  # no room for every big package: the largest keep a layer
        assert sorted(alone) == sorted(by_size[: limit - 2])
        assert len(plans) == limit
    else:
        assert alone == BIG
        groups = min(GROUPS, limit - 1 - len(BIG))
        assert all(p.name.endswith(f" of {groups}") for p in plans[1 + len(BIG) :])


def test_two_layers_are_the_skeleton_and_everything_else() -> None:
    assert plan_layers(stack(), 2) == (
        LayerPlan("skeleton", (), skeleton=True),
        LayerPlan("group 1 of 1", tuple(sorted(TORCH_STACK))),
    )


def test_a_large_cap_is_the_auto_split() -> None:
    assert plan_layers(stack(), MAX_LAYERS) == plan_layers(stack(), "auto")
    only_big = {f"lib{n:03}": BIG_WHEEL for n in range(100)}
    assert len(plan_layers(stack(only_big), "auto")) == AUTO_LAYERS
    assert len(plan_layers(stack(only_big), MAX_LAYERS)) == 101  # no group: nothing small


def test_an_environment_without_packages_is_the_skeleton() -> None:
    assert plan_layers([], "auto") == (LayerPlan("skeleton", (), skeleton=True),)


@pytest.mark.parametrize("layers", [0, MAX_LAYERS + 1])
def test_a_count_out_of_range_is_refused(layers: int) -> None:
    with pytest.raises(LayerError, match="expected 1 to 125"):
        plan_layers(stack(), layers)


names = st.from_regex(r"[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,4})?", fullmatch=True)
sizes = st.integers(0, 3 * BIG_WHEEL)


@given(
    st.dictionaries(names, sizes, max_size=60),
    st.one_of(st.just("auto"), st.integers(1, MAX_LAYERS)),
    st.randoms(use_true_random=False),
)
def test_any_lock_splits_into_a_partition(
    packages: dict[str, int], layers: Layers, shuffle: random.Random
) -> None:
    locked = stack(packages)
    plans = plan_layers(locked, layers)
    assert owners(plans).keys() == packages.keys()
    assert plans[0].skeleton and not any(p.skeleton for p in plans[1:])
    assert len(plans) <= (AUTO_LAYERS if layers == "auto" else layers)
    assert all(p.packages for p in plans[1:])  # no empty layer
    shuffle.shuffle(locked)
    assert plan_layers(locked, layers) == plans


# ---------------------------------------------------------------------------------------------
# Files into layers

DEST = "opt/env"
SITE = f"{DEST}/lib/python3.11/site-packages"


def tree(*files: str, dirs: tuple[str, ...] = ()) -> list[Entry]:
    """The entries ``collect`` would list: files, their parent directories, empty ``dirs``."""
    paths = {f"{DEST}/{f}" for f in files}
    folders = {"opt", DEST, *(f"{DEST}/{d}" for d in dirs)}
    for path in paths | folders:
        parts = path.split("/")
        folders.update("/".join(parts[:n]) for n in range(1, len(parts)))
    entries = [Entry(d, "dir", 0o755) for d in folders]
    for path in paths:
        if path.endswith("python"):
            entries.append(Entry(path, "symlink", 0o777, target="/usr/bin/python3.11"))
        else:
            entries.append(Entry(path, "file", 0o644, source=Path("/dev/null")))
    return sorted(entries, key=lambda e: e.path)


def dist(name: str, *files: str) -> InstalledDistribution:
    return InstalledDistribution(name, "1.0", f"lib/python3.11/site-packages/{name}-1.0.dist-info",
                                 tuple(sorted(files)))  # fmt: skip


PLANS = (
    LayerPlan("skeleton", (), skeleton=True),
    LayerPlan("torch", ("torch",)),
    LayerPlan("group 1 of 1", ("hello", "six")),
)
SITE_REL = "lib/python3.11/site-packages"
DISTS = (
    dist("hello", f"{SITE_REL}/hello/__init__.py", "bin/hello"),
    dist("six", f"{SITE_REL}/six.py"),
    dist("torch", f"{SITE_REL}/torch/__init__.py", f"{SITE_REL}/torch/lib/libtorch.so"),
)
FILES = [f for d in DISTS for f in d.files] + ["pyvenv.cfg", "bin/python"]


def paths(layer: tuple[Entry, ...]) -> list[str]:
    return [entry.path.removeprefix(f"{DEST}/") for entry in layer]


def test_each_file_goes_to_its_package_s_layer_with_the_directories_above_it() -> None:
    entries = tree(*FILES, dirs=("include",))
    skeleton, torch, group = split_entries(PLANS, entries, DISTS, DEST)
    assert paths(skeleton) == ["opt", "opt/env", "bin", "bin/python", "include", "pyvenv.cfg"]
    torch_dir = f"{SITE_REL}/torch"
    assert paths(torch) == ["opt", "opt/env", "lib", "lib/python3.11", SITE_REL, torch_dir,
                            f"{torch_dir}/__init__.py", f"{torch_dir}/lib",
                            f"{torch_dir}/lib/libtorch.so"]  # fmt: skip
    assert paths(group) == ["opt", "opt/env", "bin", "bin/hello", "lib", "lib/python3.11",
                            SITE_REL, f"{SITE_REL}/hello", f"{SITE_REL}/hello/__init__.py",
                            f"{SITE_REL}/six.py"]  # fmt: skip
    layers = (skeleton, torch, group)
    placed = [e.path for layer in layers for e in layer if e.kind != "dir"]
    assert sorted(placed) == sorted(e.path for e in entries if e.kind != "dir")
    assert {e.path for layer in layers for e in layer} == {e.path for e in entries}


def test_one_plan_takes_the_whole_tree_unchanged() -> None:
    entries = tree(*FILES)
    plan = (LayerPlan("environment", ("hello", "six", "torch"), skeleton=True),)
    assert split_entries(plan, entries, DISTS, DEST) == (tuple(entries),)


def test_a_partial_tree_with_the_cached_layers_directories_gives_the_same_layers() -> None:
    """Protects: with some packages not installed (their layers reused from the cache), the
    layers built are those of the whole tree: a directory only a reused layer holds (the
    venv's empty site-packages here) does not fall to the skeleton."""
    whole = split_entries(PLANS, tree(*FILES), DISTS, DEST)
    held = {e.path for layer in whole[1:] for e in layer if e.kind == "dir"}
    venv_only = tree("pyvenv.cfg", "bin/python", dirs=(SITE_REL,))
    partial = split_entries(PLANS, venv_only, (), DEST, held=held)
    assert partial[0] == whole[0]
    assert partial[1:] == ((), ())
    without = split_entries(PLANS, venv_only, (), DEST)
    assert f"{DEST}/{SITE_REL}" in {e.path for e in without[0]}  # what `held` prevents
    group_only = [f for f in FILES if "torch" not in f]
    partial = split_entries(PLANS, tree(*group_only), DISTS[:2], DEST, held=held)
    assert partial[0] == whole[0] and partial[2] == whole[2] and partial[1] == ()


def test_a_changed_package_changes_only_its_layer() -> None:
    before = split_entries(PLANS, tree(*FILES), DISTS, DEST)
    moved = (DISTS[0], dist("six", f"{SITE_REL}/six/__init__.py", f"{SITE_REL}/six/new.py"),
             DISTS[2])  # fmt: skip
    files = [f for d in moved for f in d.files] + ["pyvenv.cfg", "bin/python"]
    after = split_entries(PLANS, tree(*files), moved, DEST)
    assert [a == b for a, b in zip(before, after, strict=True)] == [True, True, False]


@pytest.mark.parametrize(
    ("plans", "dists", "files", "message"),
    [
        (PLANS[1:], DISTS, FILES, "one skeleton and each package once"),
        ((*PLANS, LayerPlan("again", ("six",))), DISTS, FILES, "each package once"),
        (PLANS, (*DISTS, dist("extra", "extra.py")), FILES, "has no layer"),
        (PLANS, (*DISTS[:2], dist("torch", f"{SITE_REL}/six.py")), FILES, "two packages"),
        (PLANS, (dist("hello", f"{SITE_REL}/six.py"), *DISTS[1:]), FILES, "two packages"),
        (PLANS, DISTS, FILES[1:], "not in the tree"),
    ],
    ids=[
        "no-skeleton",
        "package-twice",
        "unplanned-package",
        "shared-file",
        "shared-file-in-one-group",
        "missing-file",
    ],
)
def test_an_inconsistent_install_is_refused(
    plans: tuple[LayerPlan, ...],
    dists: tuple[InstalledDistribution, ...],
    files: list[str],
    message: str,
) -> None:
    with pytest.raises(LayerError, match=message):
        split_entries(plans, tree(*files), dists, DEST)
