"""Adversary pass 137: the day's two merges (a131's NVIDIA_REQUIRE_* reader, a135's user walk).

Findings pinned here (each failed before its fix):

1. libnvidia-container reads a version's numbers in pairs (``dsl_compare_version``): the
   first pair that differs decides, and what is left past the shorter side counts only as
   "holds a digit but 0". A number never paired is never parsed, so its 2**64 limit is never
   met: ``cuda>=11.<25 nines>`` holds on a CUDA 12.4 driver and ``cuda>=12.4.<25 nines>``
   merely fails there. mlenv parsed every number first and called both invalid: ``verify``
   reported ``image-requirement-invalid`` and ``build`` warned that the runtime refuses the
   base, for an image the runtime starts.
2. ``brand`` compares with ``strcasecmp``, which folds A-Z alone. mlenv used Python's
   ``casefold``, which folds U+017F (long s) to ``s`` and the Kelvin sign to ``k``:
   ``brand=te\\u017fla`` was predicted to admit Tesla GPUs, ``brand=un\\u212anown`` Unknown
   ones, which the runtime refuses (and the restated rules in tests/support lowered with
   ``str.lower``, which folds the Kelvin sign too).
3. A base holding NVIDIA_REQUIRE_BASE_CUDA and ``_2`` to ``_999`` with an NVIDIA_REQUIRE_CUDA
   of its own left ``_keep_base_requirement`` no free name: the build ended in an
   internal error (StopIteration). The first free name is now taken however many are held (the
   runtime refuses more than 32 values, which the build's warning already says).

Shapes that held: 10,000 NVIDIA_REQUIRE_* keys in a base (linear, and the 32-value refusal);
CUDA_VERSION ``12.6.3\\n``, ``\\u0661\\u0662.\\u0666`` (Arabic-Indic digits), a NUL, or leading
zeros derive no legacy requirement (Go's semver refuses them, and the hook fails); duplicate
keys keep the last (as the toolkit's map does) and the image config is one sorted Env;
``cuda>=\\u0661\\u0662``, a NUL or a newline in a value is invalid, as strspn finds; a term of
100,000 ANDed constraints is read at once; a lone surrogate never reaches the reader
(``parse_json`` refuses it). a135: the stale-lock message shows only redacted inputs and goes
through ``terminal_text``; ``build`` without ``--load`` never calls ``check_daemon``; pages
without validators are stored under their URL and Accept header and are never fresh online.
"""

from __future__ import annotations

import pytest

from mlenv.cuda.requirement import (
    RUNTIME_BRANDS,
    admitted_brands,
    base_refusal,
    base_requirement,
    evaluate_requirement,
    runtime_requirements,
)
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.judge_outputs import image_requirement_findings
from mlenv.oci.read import BaseImage
from mlenv.oci.write import ImageSpec, image_config
from tests.support.nvidia_dsl import Invalid, runtime_accepts

HUGE = "9" * 25  # past 2**64-1: strtoumax's overflow value


def _runtime(value: str, cuda: str, driver: str, brand: str) -> bool | str:
    try:
        return runtime_accepts(value, cuda=cuda, driver=driver, brand=brand)
    except Invalid:
        return "invalid"


def _mlenv(value: str, cuda: str, driver: str, brand: str) -> bool | str:
    try:
        return evaluate_requirement(value, cuda=cuda, driver=driver, brand=brand)
    except CudaError:
        return "invalid"


ON_12_4 = ("12.4", "550.54.14", "Tesla")


@pytest.mark.parametrize(
    ("value", "facts", "expected"),
    [
        # finding 1: a number is parsed only when paired with the driver's
        (f"cuda>=11.{HUGE}", ON_12_4, True),  # 12 > 11 decides; the rest is never read
        (f"cuda>=12.4.{HUGE}", ON_12_4, False),  # past 12.4's end: a rest that is not 0
        (f"cuda<12.4.{HUGE}", ON_12_4, True),
        (f"cuda!=12.4.{HUGE}", ON_12_4, True),
        (f"cuda>=12.4.{HUGE} cuda>=12.0", ON_12_4, True),
        (f"cuda>=12.{HUGE}", ON_12_4, "invalid"),  # paired with 4: parsed, past the limit
        (f"cuda>={HUGE}", ON_12_4, "invalid"),
        (f"driver>=534.{HUGE}", ON_12_4, True),
        (f"driver>=550.54.14.{HUGE}", ON_12_4, False),
        (f"driver>=550.54.{HUGE}", ON_12_4, "invalid"),
        (f"driver>=550.54.14.000.{'0' * 40}", ON_12_4, True),  # zeros left over are no rest
        # finding 2: strcasecmp folds A-Z alone
        ("brand=te\u017fla", ON_12_4, False),
        ("brand!=te\u017fla", ON_12_4, True),
        ("brand=un\u212anown", ("12.4", "550.54.14", "Unknown"), False),
        ("brand=nv\u017f", ("12.4", "550.54.14", "NVS"), False),
        ("brand=TESLA", ON_12_4, True),
        ("BRAND=tEsLa,CUDA>=12.4", ON_12_4, True),
        # held: characters strspn refuses, wherever they are in the value
        ("cuda>=\u0661\u0662", ON_12_4, "invalid"),
        ("cuda>=12.4\x00", ON_12_4, "invalid"),
        ("cuda>=12.0\n", ON_12_4, "invalid"),
        ("cuda>=11.x", ON_12_4, "invalid"),
    ],
    ids=lambda value: ascii(value)[:40] if isinstance(value, str) else None,
)
def test_the_runtimes_reading_of_numbers_and_brands(
    value: str, facts: tuple[str, str, str], expected: bool | str
) -> None:
    cuda, driver, brand = facts
    assert _runtime(value, cuda, driver, brand) == expected  # the restated rules agree
    assert _mlenv(value, cuda, driver, brand) == expected


def test_a_brand_spelled_with_a_non_ascii_fold_admits_no_gpu() -> None:
    value = "cuda>=13.0 brand=te\u017fla,driver>=535,driver<536"
    assert admitted_brands([value], cuda="12.2", driver="535.104.05") == []


def test_a_number_never_paired_is_no_refusal_in_build_or_verify() -> None:
    """What the user saw of finding 1: an error from verify, a warning from build."""
    value = f"cuda>=11.{HUGE}"
    assert image_requirement_findings([value], "550.54.14", "12.4") == []
    assert base_refusal([value], CudaVersion(12, 4), DriverVersion.parse("550.54.14")) is None
    (invalid,) = image_requirement_findings([f"cuda>=12.{HUGE}"], "550.54.14", "12.4")
    assert invalid.code == "image-requirement-invalid"


def _image_env(
    base_env: list[str], require: str | None = "cuda>=12.4,driver>=550.54.14"
) -> list[str]:
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": base_env}}
    base = BaseImage("sha256:" + "0" * 64, "amd64", config, (), (), None)  # type: ignore[arg-type]
    spec = ImageSpec("e", "linux-64", "/opt/e", 0, "ab" * 32, nvidia_require_cuda=require)
    env: list[str] = image_config(spec, [], base)["config"]["Env"]
    return env


def test_a_base_holding_every_numbered_name_keeps_its_requirement_under_a_free_one() -> None:
    held = ["NVIDIA_REQUIRE_BASE_CUDA=cuda>=1.0"]
    held += [f"NVIDIA_REQUIRE_BASE_CUDA_{n}=cuda>=1.{n}" for n in range(2, 1000)]
    env = dict(item.split("=", 1) for item in _image_env([*held, "NVIDIA_REQUIRE_CUDA=cuda>=12.6"]))
    assert env["NVIDIA_REQUIRE_BASE_CUDA_1000"] == "cuda>=12.6"
    assert env["NVIDIA_REQUIRE_CUDA"] == "cuda>=12.4,driver>=550.54.14"
    values = runtime_requirements(env)
    assert len(values) == 1001
    said = base_refusal(values, CudaVersion(12, 4), DriverVersion.parse("550.54.14"))
    assert said is not None and "at most 32" in said  # the build says the runtime refuses it


def test_ten_thousand_requirement_keys_are_read_once_and_refused_by_count() -> None:
    many = [f"NVIDIA_REQUIRE_X{n}=cuda>=1.{n}" for n in range(10_000)]
    env = _image_env([*many, "NVIDIA_REQUIRE_CUDA=cuda>=12.6"])
    assert len(env) == 10_003  # the base's, its requirement kept, ours, PATH
    assert env == sorted(env, key=lambda item: item.split("=", 1)[0])
    with pytest.raises(CudaError, match="at most 32"):
        admitted_brands(
            runtime_requirements(dict(i.split("=", 1) for i in env)),
            cuda="12.4",
            driver="550.54.14",
        )


@pytest.mark.parametrize(
    ("cuda_version", "derived"),
    [
        ("12.6.3", "cuda>=12.6"),
        ("v12.6", "cuda>=12.6"),
        ("12.6.3-rc1", "cuda>=12.6"),
        ("12.6.3\n", None),
        ("\u0661\u0662.\u0666", None),
        ("12.6\x00", None),
        ("012.6", None),
        ("12.6.3.1", None),
    ],
    ids=ascii,
)
def test_a_legacy_cuda_version_is_read_as_go_semver_reads_it(
    cuda_version: str, derived: str | None
) -> None:
    assert base_requirement({"CUDA_VERSION": cuda_version}) == derived


def test_duplicate_keys_keep_the_last_as_the_toolkit_does_and_the_bytes_are_stable() -> None:
    base = [
        "CUDA_VERSION=12.6.3",
        "CUDA_VERSION=12.2.0",
        "NVIDIA_REQUIRE_X=a",
        "NVIDIA_REQUIRE_X=b",
    ]
    env = _image_env(base)
    assert "NVIDIA_REQUIRE_BASE_CUDA=cuda>=12.2" in env and "NVIDIA_REQUIRE_X=b" in env
    assert "CUDA_VERSION=12.6.3" not in env and "NVIDIA_REQUIRE_X=a" not in env
    assert env == _image_env(base)


def test_a_long_term_is_read_in_one_pass() -> None:
    value = "brand=x," * 100_000 + " cuda>=12.0"
    for brand in RUNTIME_BRANDS:
        assert evaluate_requirement(value, cuda="12.4", driver="550.54.14", brand=brand)
