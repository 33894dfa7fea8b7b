"""[cuda] archs and cpu-ok are judged when the manifest is read, before any index is asked."""

from __future__ import annotations

import pytest

from mlenv.errors import ManifestError
from mlenv.manifest_read import loads


def problems(cuda: str, archs: str, extra: str = "") -> list[str]:
    floor = {"11.8": "520.61.05", "12.4": "550.54.14", "12.9": "575.57.08", "13.0": "580.65.06"}[
        cuda
    ]
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\narchs = {archs}\n{extra}'
    )
    try:
        loads(text, "m.toml")
    except ManifestError as exc:
        return [f"{p.where}: {p.message}" for p in exc.problems]
    return []


@pytest.mark.parametrize(
    ("cuda", "arch", "message"),
    [
        ("12.4", "sm_75a", "'sm_75a' is not a GPU architecture"),  # "a" exists from sm_90a
        ("12.9", "sm_90f", "'sm_90f' is not a GPU architecture"),  # "f" exists from sm_100f
        ("12.4", "sm_1000", "'sm_1000' is not valid: expected a GPU architecture like \"sm_80\""),
        (
            "12.4",
            "compute_80",
            "'compute_80' is not valid: expected a GPU (sm_XY); compute_80 is a virtual (PTX) "
            "architecture, write sm_80",
        ),
        ("12.4", "sm_\u0668\u0660", "is not valid: expected a GPU architecture"),
        ("13.0", "sm_70", "CUDA 13.x does not support sm_70; its oldest architecture is sm_75"),
        ("13.0", "sm_50", "CUDA 13.x does not support sm_50; its oldest architecture is sm_75"),
        ("12.4", "sm_120", "sm_120 needs CUDA 12.8 or newer; the target is CUDA 12.4"),
        ("12.4", "sm_100f", "sm_100f (an 'f' target) needs CUDA 12.9 or newer"),
        ("11.8", "sm_90a", "sm_90a (an 'a' target) needs CUDA 12.0 or newer"),
        ("12.4", "sm_99", "CUDA 12.x has no sm_99"),
        ("13.0", "sm_101", "CUDA 13.x has no sm_101"),  # renumbered sm_110 in 13.0
    ],
)
def test_bad_archs_fail_when_the_manifest_is_read(cuda: str, arch: str, message: str) -> None:
    (found,) = problems(cuda, f'["sm_80", "{arch}"]')
    assert found.startswith("m.toml: [cuda].archs[1]: ")
    assert message in found


@pytest.mark.parametrize(
    ("cuda", "archs"),
    [("12.4", '["sm_90a", "sm_50"]'), ("12.9", '["sm_100f", "sm_121"]'), ("13.0", '["sm_110"]')],
)
def test_real_archs_pass(cuda: str, archs: str) -> None:
    assert problems(cuda, archs) == []


def test_every_bad_arch_is_reported_at_its_own_position() -> None:
    found = problems("13.0", '["sm_1000", "sm_70", "sm_75a", "sm_80"]')
    assert sorted(p.split(": ")[1] for p in found) == [
        "[cuda].archs[0]",
        "[cuda].archs[1]",
        "[cuda].archs[2]",
    ]


def test_cpu_ok_names_are_validated_and_normalised() -> None:
    assert problems("12.4", "[]", 'cpu-ok = ["not a name"]\n') == [
        "m.toml: [cuda].cpu-ok[0]: 'not a name' is not valid: expected a distribution name "
        'like "torch"'
    ]
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
        'cpu-ok = ["Torch_Vision", "torchvision", "torch"]\n'
    )
    cuda = loads(text).cuda
    assert cuda is not None and cuda.cpu_ok == ("torch", "torch-vision", "torchvision")


@pytest.mark.parametrize(
    ("archs", "arch"), [("[80]", "sm_80"), ("[8.0]", "sm_80"), ("[8.6]", "sm_86"), ("[9]", None)]
)
def test_an_unquoted_arch_number_gets_the_hint_naming_it(archs: str, arch: str | None) -> None:
    """Was: "expected a string, got an integer 80" and no hint; 8.0 and 80 are nvidia-smi's and
    CMake's spellings of one GPU, so the hint names its sm_ string."""
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\narchs = {archs}\n'
    )
    with pytest.raises(ManifestError) as caught:
        loads(text, "m.toml")
    (problem,) = caught.value.problems
    assert problem.where == "m.toml: [cuda].archs[0]"
    assert problem.hint is not None
    assert "TOML reads the unquoted" in problem.hint
    assert (arch or 'like "sm_80"') in problem.hint
    assert "archs[0] =" not in problem.hint
