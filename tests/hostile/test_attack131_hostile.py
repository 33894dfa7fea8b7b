"""Adversary pass 131: NVIDIA's own CUDA images as input nobody here wrote.

Every distinct ``NVIDIA_REQUIRE_CUDA`` value NVIDIA's ``nvidia/cuda`` Dockerfiles set over the
history of GitLab ``nvidia/container-images/cuda`` (CUDA 8.0 to 13.0, every distro; 96 values,
each with the file that sets it: ``fixtures/nvidia_require_cuda``) is read by mlenv's
``evaluate_requirement`` and judged on a grid of hosts (driver, the driver's CUDA version, GPU
brand) against libnvidia-container's rules as read in its source (``tests/support/nvidia_dsl``,
restated apart from mlenv), and mlenv's own ``cuda>=X.Y,driver>=D`` for every CUDA release it
knows is held to its own verdicts.

Findings pinned here (each failed before its fix):

1. The operator is the whole run of ``<>=!`` characters after the property, and it must be
   one of the six (``dsl.c`` ``evaluate_rule``): ``brand==tesla`` or ``brand=!tesla`` is an
   invalid expression, so the container does not start. mlenv read ``=`` and the value
   ``=tesla``: a constraint that merely fails, so ``brand==tesla cuda>=12.0`` was predicted to
   start on any CUDA 12 driver. A lone ``!`` is the runtime's ``!=`` (its prefix match).
2. Empty pieces are skipped (``strsep``): ``cuda>=12.1,`` is ``cuda>=12.1`` to the runtime;
   mlenv called it an invalid expression ``''``.
3. The runtime reads lazily: the first term that holds ends the reading, and a failed
   constraint ends its term, so ``cuda>=12.1 foo=1`` starts on a 12.4 driver and is invalid
   only where the first term fails. mlenv refused it everywhere.
4. Only a space separates terms: ``cuda>=12.4<TAB>brand=tesla`` is one invalid constraint to
   the runtime; mlenv split it at the tab and predicted a start.
5. Numbers as the runtime reads them (``470..0`` is 470; a component of 2**64-1 or more is
   invalid): mlenv refused the first and crashed with a bare ValueError on a long one. A
   failed constraint too long for dsl.c's 128-byte message, or a 33rd value, is invalid.
6. A base that sets ``CUDA_VERSION`` and no (or an empty) ``NVIDIA_REQUIRE_CUDA`` is a
   "legacy" image to nvidia-container-toolkit (``cuda_image.go`` ``IsLegacy``), which then
   requires ``cuda>=<major.minor of CUDA_VERSION>``. mlenv's own NVIDIA_REQUIRE_CUDA ends the
   legacy reading, so a base's CUDA 12.6 libraries started on a 12.4 driver; the implicit
   requirement is now kept as ``NVIDIA_REQUIRE_BASE_CUDA``.
7. ``build`` on ``nvidia/cuda:12.4.1`` (its NVIDIA_REQUIRE_CUDA kept beside the lock's since
   attack 114) under a CUDA 12.1 lock with driver floor 530.30.02 built silently, ``verify``
   passed the floor, and the runtime refuses the image there on every GPU (cuda 12.1 < 12.4,
   and 530 is none of the 470/525/535 forward-compatibility branches). ``build`` now warns,
   naming the driver refused, the GPUs that still pass, and the floor that would do; a
   requirement the runtime cannot read (``cuda>=10_0``, NVIDIA's ubi7-ppc64le images) too.
   ``verify OUTPUT`` read nothing of what the runtime reads from an image: it now judges the
   image's NVIDIA_REQUIRE_* on the driver it judges (error ``image-requirement-refused``).
8. On WSL 2 the runtime compares the image's ``driver>=`` (Linux's Table 3 number) with the
   Windows driver's own number: Windows 520.06, Table 3's value for CUDA 11.8, passed verify
   for a CUDA 11.8 lock whose image asks driver>=520.61.05 (error ``driver-below-image``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlenv.cuda.matrix import known_cuda_versions, table3_driver
from mlenv.cuda.requirement import (
    base_refusal,
    evaluate_requirement,
    nvidia_require_cuda,
    runtime_requirements,
)
from mlenv.cuda.rules import CudaTarget, judge
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.judge import Judged, verify_lock
from mlenv.judge_outputs import image_requirement_findings
from mlenv.oci.read import BaseImage
from mlenv.oci.write import ImageSpec, image_config
from tests.support.cli import run_mlenv
from tests.support.cuda_project import project_on_base
from tests.support.locks import HASH, make_lock
from tests.support.nvidia_dsl import RUNTIME_BRANDS, Invalid, real_values, runtime_accepts
from tests.support.nvidia_table3 import TABLE_3

# (driver, the CUDA version it reports): each branch's driver as nvidia-smi prints it
HOSTS = [
    ("384.183", "9.0"), ("396.82", "9.2"), ("410.129", "10.0"), ("418.226.00", "10.1"),
    ("440.118.02", "10.2"), ("450.51.05", "11.0"), ("450.248.02", "11.0"),
    ("455.45.01", "11.1"), ("460.106.00", "11.2"), ("465.19.01", "11.3"),
    ("470.57.02", "11.4"), ("470.256.02", "11.4"), ("495.29.05", "11.5"),
    ("510.47.03", "11.6"), ("515.105.01", "11.7"), ("520.61.05", "11.8"),
    ("525.60.13", "12.0"), ("530.30.02", "12.1"), ("535.104.05", "12.2"),
    ("535.274.02", "12.2"), ("545.23.06", "12.3"), ("550.54.14", "12.4"),
    ("555.42.02", "12.5"), ("560.35.03", "12.6"), ("565.57.01", "12.7"), ("570.26", "12.8"),
    ("570.195.03", "12.8"), ("575.51.03", "12.9"), ("580.65.06", "13.0"),
    ("590.44.01", "13.1"), ("595.45.04", "13.2"),
]  # fmt: skip
REAL = real_values()  # every NVIDIA_REQUIRE_CUDA of nvidia/cuda, with its source


def _runtime(value: str, cuda: str, driver: str, brand: str | None) -> bool | str:
    try:
        return runtime_accepts(value, cuda=cuda, driver=driver, brand=brand)
    except Invalid:
        return "invalid"


def _mlenv(value: str, cuda: str, driver: str, brand: str | None) -> bool | str:
    try:
        return evaluate_requirement(value, cuda=cuda, driver=driver, brand=brand)
    except CudaError:
        return "invalid"


def _by_image(cuda: str) -> list[str]:
    return [item.value for item in REAL if item.image_cuda == cuda]


@pytest.mark.parametrize("item", REAL, ids=lambda item: item.source.split("/blob/")[1][:60])
def test_every_nvidia_image_value_is_decided_as_the_runtime_decides_it(item: object) -> None:
    value = item.value  # type: ignore[attr-defined]
    for driver, cuda in HOSTS:
        for brand in RUNTIME_BRANDS:
            expected = _runtime(value, cuda, driver, brand)
            assert _mlenv(value, cuda, driver, brand) == expected, (value, driver, cuda, brand)


def test_what_nvidia_images_admit_read_by_hand_from_the_runtime_rules() -> None:
    """Verdicts written from dsl.c's rules for the values that matter, not from either code."""
    (cuda_13,) = _by_image("13.0")
    assert evaluate_requirement(cuda_13, cuda="13.0", driver="580.65.06", brand="GeForce")
    # forward compatibility terms: 575 is listed for every brand name but geforce ...
    assert evaluate_requirement(cuda_13, cuda="12.9", driver="575.51.03", brand="Tesla")
    assert evaluate_requirement(cuda_13, cuda="12.9", driver="575.51.03", brand="Unknown")
    assert not evaluate_requirement(cuda_13, cuda="12.9", driver="575.51.03", brand="GeForce")
    # ... 560 is not listed at all for 13.0 (it is for 12.9)
    assert not evaluate_requirement(cuda_13, cuda="12.6", driver="560.35.03", brand="Tesla")
    (cuda_12_9,) = _by_image("12.9")
    assert evaluate_requirement(cuda_12_9, cuda="12.6", driver="560.35.03", brand="Tesla")
    # 12.4's list still names geforce (dropped from 12.5 on)
    (cuda_12_4,) = _by_image("12.4")
    (cuda_12_5,) = _by_image("12.5")
    assert evaluate_requirement(cuda_12_4, cuda="11.4", driver="470.256.02", brand="GeForce")
    assert not evaluate_requirement(cuda_12_5, cuda="11.4", driver="470.256.02", brand="GeForce")
    assert not evaluate_requirement(cuda_12_4, cuda="12.1", driver="530.30.02", brand="Tesla")
    # 11.2's bare driver>=450 term admits any brand on a CUDA 11.0 driver
    bare = "cuda>=11.2 brand=tesla,driver>=418,driver<419 brand=tesla,driver>=440,driver<441 "
    assert bare + "driver>=450" in _by_image("11.2")
    on_450 = {"cuda": "11.0", "driver": "450.51.05", "brand": "GeForce"}
    assert evaluate_requirement(bare + "driver>=450", **on_450)
    # a centos7 11.1 value ANDs two branches into one term, which no driver meets
    trap = "brand=tesla,driver>=440,driver<441,driver>=450,driver<451"
    (anded,) = [v for v in _by_image("11.1") if trap in v]
    for driver, cuda in (("440.118.02", "10.2"), ("450.51.05", "11.0")):
        assert not evaluate_requirement(anded, cuda=cuda, driver=driver, brand="Tesla")
    assert evaluate_requirement("CUDA>=12.3", cuda="12.3", driver="545.23.06", brand="Unknown")
    with pytest.raises(CudaError, match="invalid expression"):  # ubi7-ppc64le's typo
        evaluate_requirement("cuda>=10_0", cuda="10.0", driver="410.129", brand="Tesla")


@pytest.mark.parametrize(
    ("value", "facts", "expected"),
    [
        # finding 1: the whole operator run
        ("brand==tesla cuda>=12.0", ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("brand=!tesla cuda>=12.0", ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("cuda=>12.1", ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("cuda!12.4", ("12.4", "550.54.14", "Tesla"), False),
        ("brand!geforce", ("12.4", "550.54.14", "Tesla"), True),
        # finding 2: empty pieces
        ("cuda>=12.1,", ("12.1", "530.30.02", "Tesla"), True),
        (",cuda>=12.1", ("12.1", "530.30.02", "Tesla"), True),
        ("cuda>=12.1,,driver>=530", ("12.1", "530.30.02", "Tesla"), True),
        ("cuda>=12.1  brand=tesla,driver>=470,driver<471", ("11.4", "470.57.02", "Tesla"), True),
        ("cuda>=13.0 , cuda>=12.0", ("12.4", "550.54.14", "Tesla"), False),
        # finding 3: laziness
        ("cuda>=12.1 foo=1", ("12.4", "550.54.14", "Tesla"), True),
        ("cuda>=12.1 foo=1", ("12.0", "525.60.13", "Tesla"), "invalid"),
        ("cuda>=13.0,foo=1", ("12.4", "550.54.14", "Tesla"), False),
        ("brand=tesla,driver>=twelve cuda>=12.0", ("12.4", "550.54.14", "GeForce"), True),
        # finding 4: only a space separates
        ("cuda>=12.4\tbrand=tesla,driver>=535", ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("cuda>=12.4\nbrand=tesla", ("12.4", "550.54.14", "Tesla"), "invalid"),
        # finding 5: numbers as the runtime reads them
        ("driver>=470..0,driver<471.", ("11.4", "470.57.02", "Tesla"), True),
        ("cuda>=12.4.", ("12.4", "550.54.14", "Tesla"), True),
        ("cuda>=.12", ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("driver>=18446744073709551615", ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("driver>=18446744073709551614", ("12.4", "550.54.14", "Tesla"), False),
        ("driver>=" + "9" * 5000, ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("driver>=" + "0" * 30 + "550", ("12.4", "550.54.14", "Tesla"), True),
        ("brand=" + "x" * 119 + " cuda>=12.0", ("12.4", "550.54.14", "Tesla"), True),
        ("brand=" + "x" * 120 + " cuda>=12.0", ("12.4", "550.54.14", "Tesla"), "invalid"),
        ("cuda>=12.0 brand=" + "x" * 200, ("12.4", "550.54.14", "Tesla"), True),
    ],
    ids=lambda value: repr(value)[:48] if isinstance(value, str) else None,
)
def test_the_runtime_grammar_where_it_is_not_the_obvious_one(
    value: str, facts: tuple[str, str, str], expected: bool | str
) -> None:
    cuda, driver, brand = facts
    assert _runtime(value, cuda, driver, brand) == expected  # the restated rules agree
    assert _mlenv(value, cuda, driver, brand) == expected


# Table 3's rows before CUDA 10.0 (CUDA Toolkit Release Notes): (CUDA X.Y, Linux driver)
OLDER_TABLE_3 = [("9.2", "396.26"), ("9.1", "390.46"), ("9.0", "384.81"), ("8.0", "367.48"),
                 ("7.5", "352.31"), ("7.0", "346.46")]  # fmt: skip


def test_mlenv_requirement_starts_exactly_where_mlenv_says_its_target_runs() -> None:
    """mlenv writes ``cuda>=X.Y,driver>=<Table 3 of X.Y>`` (no package asking more) for every
    CUDA release it knows a driver for: on every Table 3 driver and every branch driver of
    HOSTS, with the CUDA version it reports, the runtime starts the image exactly when
    ``judge`` finds no error for the target on that driver (the host's reported CUDA given)."""
    rows = [(cuda, linux) for cuda, linux, _ in TABLE_3] + OLDER_TABLE_3
    hosts = {DriverVersion.parse(linux): cuda for cuda, linux in rows}
    hosts.update({DriverVersion.parse(driver): cuda for driver, cuda in HOSTS})
    for cuda in known_cuda_versions():
        found = table3_driver(cuda)
        if found is None:
            continue
        value = f"{nvidia_require_cuda(cuda)},driver>={found[0]}"
        for driver, reported in sorted(hosts.items()):
            target = CudaTarget(cuda, driver, checked=True, reported=CudaVersion.parse(reported))
            runs = not [f for f in judge(target, ()) if f.severity == "error"]
            host = (reported, driver.text, "GeForce")
            assert _runtime(value, *host) is runs, (value, host)
            assert _mlenv(value, *host) is runs, (value, host)


CUDA_12_4 = "cuda>=12.4,driver>=550.54.14"


def _image_env(base_env: list[str], require: str | None = CUDA_12_4) -> dict[str, str]:
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": base_env}}
    base = BaseImage("sha256:" + "0" * 64, "amd64", config, (), (), None)  # type: ignore[arg-type]
    spec = ImageSpec("e", "linux-64", "/opt/e", 0, "ab" * 32, nvidia_require_cuda=require)
    pairs = (item.split("=", 1) for item in image_config(spec, [], base)["config"]["Env"])
    return dict(pairs)


def _starts(env: dict[str, str], *, cuda: str, driver: str) -> bool:
    """nvidia-container-toolkit's GetRequirements then libnvidia-container on each value."""
    values = [v for k, v in env.items() if k.startswith("NVIDIA_REQUIRE_") and "JETPACK" not in k]
    if env.get("CUDA_VERSION") and not env.get("NVIDIA_REQUIRE_CUDA"):
        values.append("cuda>=" + ".".join(env["CUDA_VERSION"].split(".")[:2]))
    return all(runtime_accepts(v, cuda=cuda, driver=driver, brand="Tesla") for v in values)


@pytest.mark.parametrize("empty", [[], ["NVIDIA_REQUIRE_CUDA="]])
def test_a_legacy_base_keeps_the_requirement_its_cuda_version_implies(empty: list[str]) -> None:
    base = ["CUDA_VERSION=12.6.3", *empty]
    assert not _starts(dict(item.split("=", 1) for item in base), cuda="12.4", driver="550.54.14")
    env = _image_env(base)
    assert env["NVIDIA_REQUIRE_CUDA"] == CUDA_12_4
    assert env["NVIDIA_REQUIRE_BASE_CUDA"] == "cuda>=12.6"
    assert not _starts(env, cuda="12.4", driver="550.54.14")
    assert _starts(env, cuda="12.6", driver="560.35.03")


def test_a_legacy_base_is_read_only_when_the_image_sets_its_own_requirement() -> None:
    env = _image_env(["CUDA_VERSION=12.4.1"])
    assert env["NVIDIA_REQUIRE_BASE_CUDA"] == "cuda>=12.4"  # kept: cheap, and always true here
    cpu = _image_env(["CUDA_VERSION=12.6.3"], require=None)  # no CUDA target: left to legacy
    assert "NVIDIA_REQUIRE_CUDA" not in cpu and "NVIDIA_REQUIRE_BASE_CUDA" not in cpu
    current = _image_env(["CUDA_VERSION=12.6.3", "NVIDIA_REQUIRE_CUDA=cuda>=12.6"])
    assert current["NVIDIA_REQUIRE_BASE_CUDA"] == "cuda>=12.6"  # the ordinary move, not legacy


def test_a_base_the_runtime_refuses_on_the_floor_is_named_by_the_check() -> None:
    (cuda_12_4,) = _by_image("12.4")
    said = base_refusal([cuda_12_4], CudaVersion(12, 1), DriverVersion.parse("530.30.02"))
    assert said is not None
    assert "refuse the image on driver 530.30.02 (CUDA 12.1)" in said and "every GPU" in said
    assert "raise the driver floor to 550.54.14" in said
    assert base_refusal([cuda_12_4], CudaVersion(12, 4), DriverVersion.parse("550.54.14")) is None
    # 13.0 on a 570 floor: Tesla, Unknown (H100s), Quadro, GRID pass its 570 branch terms
    (cuda_13,) = _by_image("13.0")
    said = base_refusal([cuda_13], CudaVersion(12, 8), DriverVersion.parse("570.26"))
    assert said is not None and "other than Tesla, Unknown, Quadro, GRID" in said
    said = base_refusal(["cuda>=10_0"], CudaVersion(10, 0), DriverVersion.parse("410.48"))
    assert said is not None and "invalid expression 'cuda>=10_0'" in said
    # a legacy base's implicit requirement is judged as the runtime derives it
    said = base_refusal(["cuda>=12.6"], CudaVersion(12, 4), DriverVersion.parse("550.54.14"))
    assert said is not None and "raise the driver floor to 560.28.03" in said


def test_build_warns_when_the_base_image_refuses_the_locks_driver_floor(tmp_path: Path) -> None:
    (cuda_12_4,) = _by_image("12.4")
    base_env = [f"NVIDIA_REQUIRE_CUDA={cuda_12_4}", "CUDA_VERSION=12.4.1"]
    project, env = project_on_base(tmp_path, base_env, "12.1", "530.30.02")
    built = run_mlenv(["build", "--offline"], project, env)
    assert built.returncode == 0, built.stderr
    assert "refuse the image on driver 530.30.02 (CUDA 12.1)" in built.stderr
    assert "raise the driver floor to 550.54.14" in built.stderr
    blobs = project / "dist" / "oci" / "blobs" / "sha256"
    top = json.loads((project / "dist" / "oci" / "index.json").read_text())["manifests"][0]
    manifest_doc = json.loads((blobs / top["digest"][7:]).read_text())
    config = json.loads((blobs / manifest_doc["config"]["digest"][7:]).read_text())
    image = dict(item.split("=", 1) for item in config["config"]["Env"])
    assert image["NVIDIA_REQUIRE_BASE_CUDA"] == cuda_12_4
    assert not _starts(image, cuda="12.1", driver="530.30.02")  # what the warning says
    assert _starts(image, cuda="12.4", driver="550.54.14")
    # verify reads what the runtime reads from the image: the floor is refused, 550 is not
    for output in ("dist/oci", "dist/image.tar"):
        floor = run_mlenv(["verify", output], project, env)
        assert floor.returncode == 1, floor.stdout + floor.stderr
        assert "image-requirement-refused" in floor.stdout, floor.stdout
        assert "driver 530.30.02 (CUDA 12.1)" in floor.stdout
        newer = run_mlenv(["verify", output, "--driver", "550.54.14"], project, env)
        assert newer.returncode == 0, newer.stdout + newer.stderr
        assert "image-requirement" not in newer.stdout


@pytest.mark.parametrize(
    ("cuda", "floor", "windows", "reported"),
    [
        ("11.8", "520.61.05", "520.06", "11.8"),  # Table 3's own Windows value for 11.8
        ("12.4", "550.54.14", "551.61", "12.4"),
        ("12.8", "570.26", "570.65", "12.8"),
        ("13.0", "580.65.06", "580.88", "13.0"),  # PyTorch's quoted Windows floor for cu130
    ],
)
def test_verify_on_wsl_passes_only_drivers_the_images_requirement_admits(
    cuda: str, floor: str, windows: str, reported: str
) -> None:
    """On WSL 2 NVML (so the runtime) reports the Windows driver's number; the image carries
    Linux's Table 3 number as driver>= (finding 8)."""
    lock = make_lock([], cuda=cuda, floor=floor)
    verdict = verify_lock(lock, HASH, Judged(windows, "nvidia-smi", cuda=reported, windows=True))
    value = f"{nvidia_require_cuda(CudaVersion.parse(cuda))},driver>={verdict.requires_driver}"
    starts = runtime_accepts(value, cuda=reported, driver=windows, brand="GeForce")
    assert verdict.ok is starts, (value, [f.code for f in verdict.findings])
    if not starts:
        assert [f.code for f in verdict.errors] == ["driver-below-image"]


@pytest.mark.parametrize(
    ("cuda_version", "required"),
    [
        ("12.4.1", "cuda>=12.4"),  # nvidia/cuda's own form
        ("10.0.130", "cuda>=10.0"),
        ("v12.4.1", "cuda>=12.4"),  # the toolkit trims one "v" before adding its own
        ("12", "cuda>=12.0"),  # Go semver's shorthand: v12 is v12.0.0
        ("12.4.1-1", "cuda>=12.4"),
        ("12.4-rc1", None),  # a pre-release only after all three numbers: Go refuses it
        ("12.04.1", None),  # a leading zero: Go refuses it
        ("", None),
    ],
)
def test_a_legacy_base_requirement_is_the_one_the_toolkit_derives(
    cuda_version: str, required: str | None
) -> None:
    env = _image_env([f"CUDA_VERSION={cuda_version}"])
    assert env.get("NVIDIA_REQUIRE_BASE_CUDA") == required


def test_an_ngc_base_keeps_its_own_requirement_and_is_no_refusal() -> None:
    """NGC framework images (nvcr.io/nvidia/pytorch, tritonserver 23.12 as ``docker inspect``
    prints them) set ``NVIDIA_REQUIRE_CUDA=cuda>=9.0``, a four-part CUDA_VERSION and an empty
    NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS, and check the driver in their own entrypoint."""
    base = ["NVIDIA_REQUIRE_CUDA=cuda>=9.0", "CUDA_VERSION=12.3.2.001",
            "NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS=", "NVIDIA_VISIBLE_DEVICES=all"]  # fmt: skip
    env = _image_env(base)
    assert env["NVIDIA_REQUIRE_BASE_CUDA"] == "cuda>=9.0"
    assert env["NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS"] == ""
    assert base_refusal(["cuda>=9.0"], CudaVersion(12, 4), DriverVersion.parse("550.54.14")) is None
    assert _starts(env, cuda="12.4", driver="550.54.14")


@pytest.mark.parametrize(
    ("env", "values"),
    [
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=12.4", "NVIDIA_DISABLE_REQUIRE": "true"}, []),
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=12.4", "NVIDIA_DISABLE_REQUIRE": "1"}, []),
        # Go's strconv.ParseBool refuses "yes": the checks stay on
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=12.4", "NVIDIA_DISABLE_REQUIRE": "yes"}, ["cuda>=12.4"]),
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=12.4", "NVIDIA_REQUIRE_JETPACK_HOST_MOUNTS": ""},
         ["cuda>=12.4"]),
        ({"CUDA_VERSION": "12.6.3"}, ["cuda>=12.6"]),
        ({"CUDA_VERSION": "12.6.3", "NVIDIA_REQUIRE_CUDA": ""}, ["", "cuda>=12.6"]),
        ({"CUDA_VERSION": "12.6.3", "NVIDIA_REQUIRE_CUDA": "cuda>=12.0"}, ["cuda>=12.0"]),
    ],
)  # fmt: skip
def test_the_values_the_toolkit_hands_the_runtime(env: dict[str, str], values: list[str]) -> None:
    assert runtime_requirements(env) == values


def test_an_image_requirement_is_judged_for_every_brand_on_the_verified_driver() -> None:
    (cuda_13,) = _by_image("13.0")
    own = "cuda>=12.8,driver>=570.26"
    assert image_requirement_findings([own, cuda_13], "580.65.06", "13.0") == []
    (partial,) = image_requirement_findings([own, cuda_13], "570.124.06", "12.8")
    assert (partial.severity, partial.code) == ("warning", "image-requirement-brand")
    assert "only for Tesla, Unknown, Quadro, GRID GPUs" in partial.message
    (refused,) = image_requirement_findings([own, cuda_13], "560.35.03", "12.6")
    assert (refused.severity, refused.code) == ("error", "image-requirement-refused")
    (invalid,) = image_requirement_findings(["cuda>=10_1"], "418.39", "10.1")
    assert invalid.code == "image-requirement-invalid"
    (many,) = image_requirement_findings(["cuda>=9.0"] * 33, "580.65.06", "13.0")  # cli.h: 32
    assert many.code == "image-requirement-invalid" and "at most 32" in many.message
    assert image_requirement_findings(["cuda>=9.0"] * 32, "580.65.06", "13.0") == []
