"""Adversary pass 80: the WSL 2 driver judgement, the link-local guard and `init --from`
requirements reading, as merged after ef22010.

Findings this file pins (each failed before its fix):

- A lock with no CUDA target, judged on WSL 2 (`verify --host`), ranked the Windows driver by
  Table 3's Linux column: Windows 551.23 passed a +cu124 torch (Windows >= 551.61) and Table
  3's own Windows value for 11.8 (520.06) was refused against Linux's 520.61.05.
- /proc/version was searched anywhere for "microsoft" or "WSL": a bare-metal kernel built by
  someone@microsoft.com, or on a build host named "newsletter", made a Linux driver Windows'.
- AWS's IPv6 instance metadata endpoint (fd00:ec2::254, a unique local address, not
  link-local) was a token realm and redirect target a remote registry could steer mlenv to.
- A requirements file with one long word held `init --from` quadratically in shlex (800 KB:
  12 s; the 64 MiB input limit: hours).
- A requirements file saved as UTF-16 without a byte-order mark (valid UTF-8 with NULs) was
  read as garbled requirements instead of refused as not UTF-8.

Expected drivers are typed from shared/reference/cuda.md §1 (NVIDIA CUDA Toolkit Release
Notes 13.2 Update 2, Table 3, Linux and Windows columns), never computed here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shlex
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.build_written import BUILD_OUTPUT
from mlenv.errors import MlenvError
from mlenv.host import KERNEL_VERSION, SMI_BANNER_ARGV, SMI_QUERY_ARGV, detect
from mlenv.importers.core import ImportFileError, read_requirements
from mlenv.judge import Judged, verify_lock
from mlenv.limits import (
    DEADLINE_FLOOR,
    MAX_IMPORTED_REQUIREMENTS,
    SLOWEST_RATE,
    LimitError,
    deadline_seconds,
)
from mlenv.lockfile import Lock
from mlenv.net.hosts import is_link_local
from mlenv.net.origins import may_send_credentials
from mlenv.outputs import OutputError, check_output
from mlenv.shell_words import split_words
from mlenv.subjects import judge
from tests.support import build_records
from tests.support.cli import run_mlenv
from tests.support.fake_host import with_glibc
from tests.support.locks import HASH, codes, locked, make_lock
from tests.support.wheels import build_wheel

# --- WSL 2: a lock without a CUDA target --------------------------------------------------


def _untargeted(*packages: tuple[str, str]) -> Lock:
    return make_lock([locked(name, version) for name, version in packages], cuda=None, floor=None)


@pytest.mark.parametrize(
    ("torch", "driver", "reported", "refused"),
    [
        ("2.6.0+cu124", "551.23", "", True),  # Windows 12.4 >= 551.61, above Linux's 550.54.14
        ("2.6.0+cu124", "551.61", "", False),
        ("2.3.0+cu118", "520.06", "", False),  # Table 3's own Windows 11.8 value
        ("2.3.0+cu118", "520.05", "", True),
        ("2.9.0+cu130", "580.88", "", True),  # 13.0: Windows N/A, nothing printed to judge by
        ("2.9.0+cu130", "580.88", "13.0", False),  # the driver's own CUDA Version decides
        ("2.9.0+cu130", "580.88", "12.9", True),
    ],
)
def test_a_wsl_driver_is_ranked_by_the_windows_column_without_a_cuda_target(
    torch: str, driver: str, reported: str, refused: bool
) -> None:
    lock = _untargeted(("torch", torch))
    found = codes(
        verify_lock(lock, HASH, Judged(driver, "nvidia-smi", windows=True, cuda=reported))
    )
    errors = [code for code in found if code[0] == "error"]
    assert bool(errors) is refused, found
    assert ("warning", "cuda-undeclared", "") in found


def test_a_linux_driver_without_a_cuda_target_keeps_the_linux_column() -> None:
    """The same numbers from a Linux driver: 551.23 is above Linux's 12.4 550.54.14, 520.06
    below Linux's 11.8 520.61.05."""
    new, old = _untargeted(("torch", "2.6.0+cu124")), _untargeted(("torch", "2.3.0+cu118"))
    assert codes(verify_lock(new, HASH, Judged("551.23", "nvidia-smi"))) == [
        ("warning", "cuda-undeclared", "")
    ]
    assert ("error", "driver-below-package", "torch") in codes(
        verify_lock(old, HASH, Judged("520.06", "nvidia-smi"))
    )


def test_a_major_only_build_on_wsl_takes_the_majors_first_windows_driver() -> None:
    """cupy-cuda12x names only 12: on WSL its floor is 12.0's Windows 527.41."""
    lock = _untargeted(("cupy-cuda12x", "13.0.0"))
    below = codes(verify_lock(lock, HASH, Judged("527.40", "nvidia-smi", windows=True)))
    assert ("error", "driver-below-package", "cupy-cuda12x") in below
    at = codes(verify_lock(lock, HASH, Judged("527.41", "nvidia-smi", windows=True)))
    assert [code for code in at if code[0] == "error"] == []


@pytest.mark.parametrize(("reported", "refused"), [("13.2", False), ("13.1", True), ("", True)])
def test_a_newer_13x_package_on_wsl_is_judged_by_the_reported_cuda(
    reported: str, refused: bool
) -> None:
    """Target 13.0, a +cu132 torch, WSL 2: Table 3 has no Windows value for 13.2 (N/A), so the
    CUDA Version the driver prints decides, as it does for the target; it was refused as
    "minimum driver unconfirmed" even when the driver printed 13.2."""
    lock = make_lock([locked("torch", "2.10.0+cu132")], cuda="13.0", floor="580.65.06")
    judged = Judged("595.97", "nvidia-smi", windows=True, cuda=reported)
    found = codes(verify_lock(lock, HASH, judged))
    # refused as unconfirmed with no reported CUDA, or as a newer minor than the driver reports
    refusals = {("error", "driver-unconfirmed", "torch"), ("error", "cuda-newer-minor", "torch")}
    assert bool(refusals & set(found)) is refused, found


# --- WSL 2: which /proc/version means WSL ---------------------------------------------------


_SMI = {
    SMI_QUERY_ARGV: "560.94, 8.9, NVIDIA GeForce RTX 4090\n",
    SMI_BANNER_ARGV: "| NVIDIA-SMI 560.35.02     Driver Version: 560.94     CUDA Version: 12.6 |\n",
}


def _windows(kernel: str, env: Mapping[str, str] | None = None) -> bool:
    return detect(with_glibc({KERNEL_VERSION: kernel}, dict(_SMI), env or {})).windows_driver


@pytest.mark.parametrize(
    "kernel",
    [
        "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f) (gcc (GCC) 11.2.0,"
        " GNU ld (GNU Binutils) 2.37) #1 SMP Tue Nov 5 00:21:55 UTC 2024\n",
        "Linux version 6.6.36.3-microsoft-standard-WSL2+ (me@box) (gcc 13.2.0) #2 SMP\n",
        "Linux version 4.19.128-MICROSOFT-standard (oe-user@oe-host) (gcc 8.2.0) #1 SMP\n",
        "Linux version 6.6.87.2-Custom-wsl2 (builder@host) (clang 18) #1 SMP\n",
    ],
)
def test_a_wsl_kernel_release_makes_nvidia_smis_driver_windows(kernel: str) -> None:
    assert _windows(kernel)


@pytest.mark.parametrize(
    "kernel",
    [
        "Linux version 6.8.0-45-generic (kbuild@microsoft.com) (gcc 13.2.0) #45-Ubuntu SMP\n",
        "Linux version 6.8.0-45-generic (buildd@newsletter) (gcc 13.2.0) #45-Ubuntu SMP\n",
        "Linux version 6.6.64.2-1.azl3 (root@azl) (gcc (Microsoft Azure Linux 3.0) 13.2.0) #1\n",
        "Linux version 5.15.0-1052-azure (buildd@lcy02) (gcc 11.4.0) #60-Ubuntu SMP WSL-free\n",
        "Darwin microsoft WSL2\n",
    ],
)
def test_microsoft_outside_the_kernel_release_leaves_the_driver_linux(kernel: str) -> None:
    assert not _windows(kernel)


@settings(max_examples=100)
@given(
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="\n"), max_size=60),
    st.sampled_from(["microsoft", "Microsoft", "WSL", "wsl2", "MICROSOFT"]),
)
def test_only_the_release_decides(tail: str, word: str) -> None:
    """The builder, compiler and date after the release never make a driver Windows'."""
    assert not _windows(f"Linux version 6.8.0-45-generic ({word}@x) {tail} {word}\n")
    assert _windows(f"Linux version 5.15.1-{word}-standard {tail}\n")


def test_an_override_on_wsl_is_judged_as_given() -> None:
    """MLENV_DRIVER_VERSION names a driver, not a column: it is Linux's (docs: host probes)."""
    kernel = "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@x) (gcc 11.2.0) #1\n"
    assert not _windows(kernel, {"MLENV_DRIVER_VERSION": "560.94"})


# --- link-local and instance metadata -----------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "[fd00:ec2::254]",
        "fd00:ec2::254",
        "fd00:ec2::254%eth0",
        "[fd00:ec2:0:0:0:0:0:254]",
        "[FD00:EC2::254]",
        "100.100.100.200",
        "[::ffff:100.100.100.200]",
        "[::ffff:6464:64c8]",
        str(int(ipaddress.IPv4Address("100.100.100.200"))),  # decimal spelling
        "169.254.169.254",
        "0xa9.0xfe.0xa9.0xfe",
        "0251.0376.0251.0376",
        "[fe80::a9fe:a9fe]",
        "[fe80::1%25eth0]",
        "[febf::]",
        "[::ffff:169.254.169.254]",
    ],
)
def test_instance_metadata_is_refused_under_any_spelling(host: str) -> None:
    assert is_link_local(host)
    assert not may_send_credentials(
        "https://registry.example", f"https://{host}/token", token_realm=True
    )


@pytest.mark.parametrize("host", ["[fd00:ec2::253]", "100.100.100.100", "[fec0::1]", "10.0.0.1"])
def test_neighbours_of_metadata_are_not(host: str) -> None:
    assert not is_link_local(host)


def test_a_link_local_registry_may_use_its_own_link() -> None:
    assert may_send_credentials("http://169.254.10.1:5000", "http://169.254.10.1:5000/token")


@settings(max_examples=200)
@given(st.integers(0, (1 << 128) - 1), st.booleans(), st.booleans())
def test_fe80_slash_10_under_any_ipv6_spelling(value: int, exploded: bool, bracketed: bool) -> None:
    address = ipaddress.IPv6Address(value)
    text = address.exploded if exploded else address.compressed
    text = f"[{text}]" if bracketed else text
    expected = (
        address in ipaddress.IPv6Network("fe80::/10")
        or address == ipaddress.IPv6Address("fd00:ec2::254")
        or (address.ipv4_mapped is not None and address.ipv4_mapped.is_link_local)
    )
    assert is_link_local(text) is expected


# --- the download deadline's setting --------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-5", "nan", "inf", "-inf", "1e309", "ten", "10s", "0x10"])
def test_a_deadline_that_is_no_positive_number_is_refused(text: str) -> None:
    with pytest.raises(MlenvError) as caught:
        deadline_seconds(1, {"MLENV_DOWNLOAD_SECONDS": text})
    assert caught.value.where == "MLENV_DOWNLOAD_SECONDS"


@pytest.mark.parametrize(
    ("text", "floor"), [("", DEADLINE_FLOOR), ("  30 ", 30.0), ("1e308", 1e308)]
)
def test_a_deadline_setting_is_a_floor(text: str, floor: float) -> None:
    assert deadline_seconds(SLOWEST_RATE * 2, {"MLENV_DOWNLOAD_SECONDS": text}) == floor + 2


# --- init --from requirements.txt -----------------------------------------------------------


@settings(max_examples=200)
@given(
    st.text(alphabet=st.sampled_from(list("ab=#;<>.,-~!$ \t\r\n\x0b\x0c\u3000\"'\\")), max_size=40)
)
def test_words_are_shlexs(line: str) -> None:
    assert _outcome(split_words, line) == _outcome(shlex.split, line)


def _read(path: Path, data: bytes) -> tuple[int, str]:
    path.write_bytes(data)
    try:
        return len(read_requirements(path, (path.parent,)).pypi), ""
    except (ImportFileError, LimitError) as error:
        return -1, str(error)


@pytest.mark.parametrize("space", ["", " ", "\u3000", "\u00a0"])
def test_a_long_word_is_read_in_linear_time(tmp_path: Path, space: str) -> None:
    """4 MB in one word took minutes in shlex (800 KB: 12 s); now it is linear."""
    started = time.perf_counter()
    count, error = _read(tmp_path / "r.txt", (("a" + space) * (2 << 20) + "\n").encode())
    assert time.perf_counter() - started < 10
    # one name of 4 million letters is PEP 508; with spaces between, it is no requirement
    assert (count, error) == (1, "") if not space else "not a PEP 508 requirement" in error


@pytest.mark.parametrize("word", ['"{}"', "'{}'", '"{}', "x{}\\", '"\\"{}\\"\\', "'{}' \"\" ''"])
def test_quoted_words_are_read_in_linear_time_as_shlex_reads_them(word: str) -> None:
    """Quotes and escapes go the same way: a 4 MB quoted word, then the short form held to
    shlex itself (words, or its error)."""
    started = time.perf_counter()
    _outcome(split_words, f"x ; os_name == {word.format('a b' * (1 << 20))}")
    assert time.perf_counter() - started < 5
    short = f"x ; os_name == {word.format('a b')}"
    assert _outcome(split_words, short) == _outcome(shlex.split, short)


def _outcome(split: Callable[[str], list[str]], line: str) -> list[str] | str:
    try:
        return split(line)
    except ValueError as error:
        return f"ValueError: {error}"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_without_a_bom_is_refused_as_not_utf8(tmp_path: Path, encoding: str) -> None:
    count, error = _read(tmp_path / "r.txt", "numpy==1.26.4\ntorch\n".encode(encoding))
    assert count == -1
    assert ":1: byte 0x00 is not utf-8" in error and "save the file as UTF-8" in error


def test_a_nul_on_a_later_line_is_named_by_that_line(tmp_path: Path) -> None:
    count, error = _read(tmp_path / "r.txt", b"numpy\ntorch\nsci\0py\n")
    assert count == -1 and "r.txt:3: byte 0x00" in error


def test_the_requirement_limit_is_inclusive_and_counts_includes(tmp_path: Path) -> None:
    lines = [f"p{i}\n" for i in range(MAX_IMPORTED_REQUIREMENTS)]
    assert _read(tmp_path / "exact.txt", "".join(lines).encode()) == (MAX_IMPORTED_REQUIREMENTS, "")
    count, error = _read(tmp_path / "over.txt", "".join([*lines, "q\n"]).encode())
    assert count == -1 and "more than 10,000" in error
    half = MAX_IMPORTED_REQUIREMENTS // 2 + 1
    (tmp_path / "inc.txt").write_text("".join(f"a{i}\n" for i in range(half)))
    count, error = _read(
        tmp_path / "top.txt", ("-r inc.txt\n" + "".join(f"b{i}\n" for i in range(half))).encode()
    )
    assert count == -1 and "more than 10,000" in error


@pytest.mark.parametrize("space", [" ", "\t", "\x0c", "\u3000", "\u2003"])
def test_comment_shapes_stay_linear(tmp_path: Path, space: str) -> None:
    """Runs of whitespace and '#' in every order (the old comment regex was quadratic)."""
    for body in (space * 200_000, (space + "#") * 100_000, ("#" + space) * 100_000, "#" * 400_000):
        started = time.perf_counter()
        _read(tmp_path / "r.txt", f"x{body}\n".encode())
        assert time.perf_counter() - started < 5


# --- the build output gate: blobs the record never named --------------------------------------

_MANIFEST = (
    '[environment]\nname = "b"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
    "platforms = {platforms}\n"
    '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
    'dependencies = ["app"]\n[build]\noutputs = ["oci"]\nimage-tar = {tar}\n'
)


def _built(root: Path, platforms: str, tar: str) -> Path:
    (root / "wheels").mkdir(parents=True, exist_ok=True)
    name, data = build_wheel("app", "1.0", files={"app/__init__.py": b"x = 1\n"})
    (root / "wheels" / name).write_bytes(data)
    (root / "mlenv.toml").write_text(_MANIFEST.format(platforms=platforms, tar=tar))
    for command in (["lock"], ["fetch"], ["build"]):
        done = run_mlenv(command, root, {"MLENV_CACHE_DIR": str(root / "cache")})
        assert done.returncode == 0, done.stderr
    return root / "dist"


@pytest.mark.parametrize(
    ("platforms", "tar", "layout"),
    [('["linux-64"]', "true", "oci"), ('["linux-64", "linux-aarch64"]', "false", "oci"),
     ('["linux-64", "linux-aarch64"]', "false", "linux-aarch64/oci")],
)  # fmt: skip
def test_an_image_a_user_copied_into_the_layout_is_not_the_builds(
    tmp_path: Path, platforms: str, tar: str, layout: str
) -> None:
    """`skopeo copy docker://alpine oci:dist/oci:alpine` adds blobs named by their sha256 and
    an index.json entry: every name looks like a build's, but the build.json names none of
    those blobs. The rebuild used to replace them unseen; it is refused naming one, and the
    same rebuild without them still goes through."""
    dist = _built(tmp_path, platforms, tar)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    mine = b"the user's own image layer"
    blob = dist / layout / "blobs" / "sha256" / hashlib.sha256(mine).hexdigest()
    blob.write_bytes(mine)
    index = json.loads((dist / layout / "index.json").read_text())
    index["manifests"].append({"digest": f"sha256:{blob.name}", "size": len(mine)})
    (dist / layout / "index.json").write_text(json.dumps(index))
    done = run_mlenv(["build"], tmp_path, env)
    assert done.returncode == 1 and blob.name in done.stderr, done.stderr
    assert blob.read_bytes() == mine
    blob.unlink()
    done = run_mlenv(["build"], tmp_path, env)
    assert done.returncode == 0, done.stderr


def test_a_hand_edited_record_naming_a_blob_is_only_as_good_as_its_own_layout(
    tmp_path: Path,
) -> None:
    """A record that names digests its layout does not hold claims nothing: what is there and
    unnamed is still refused; a record whose digests are malformed claims no blob at all."""
    dist = tmp_path / "dist"
    blobs = dist / "oci" / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for name in ("index.json", "oci-layout"):
        (dist / "oci" / name).write_text("{}")
    (blobs / ("b" * 64)).write_bytes(b"user")
    named_elsewhere = build_records.image("a" * 64, "a" * 64, tar=None)
    record = build_records.single(named_elsewhere, sbom=None)
    (dist / "build.json").write_text(json.dumps(record))
    with pytest.raises(OutputError) as refused:
        check_output(dist, BUILD_OUTPUT, keep={})
    assert "oci/blobs" in str(refused.value)  # the blob, or its directory when none is named
    # malformed digests (63 hex, layers as bare strings, a list of manifests): since attack 87
    # no build's record at all, so nothing in the directory is the build's
    for oci in (
        {**named_elsewhere, "manifest-digest": "sha256:" + "b" * 63},
        {**named_elsewhere, "layers": ["sha256:" + "b" * 64]},
        {**named_elsewhere, "manifests": ["sha256:" + "b" * 64]},
    ):
        (dist / "build.json").write_text(json.dumps(build_records.single(oci, sbom=None)))
        with pytest.raises(OutputError) as refused:
            check_output(dist, BUILD_OUTPUT, keep={})
        assert "no valid build.json" in str(refused.value)
    oci = build_records.image("b" * 64, "b" * 64, tar=None)
    (dist / "build.json").write_text(json.dumps(build_records.single(oci, sbom=None)))
    assert check_output(dist, BUILD_OUTPUT, keep={}) == dist.resolve()


# --- subjects: a name in another case is no record by itself ---------------------------------


@pytest.mark.parametrize("name", ["BUILD.JSON", "Build.json", "build.JSON"])
def test_a_json_named_like_a_record_in_another_case_is_judged_by_its_content(
    tmp_path: Path, name: str
) -> None:
    """A web app's BUILD.JSON was "a build record (dist/build.json)" to inspect and verify;
    only the exact name build.json is one by name, a case variant must read as one."""
    path = tmp_path / name
    path.write_text('{"name": "webapp", "scripts": {"build": "tsc"}}\n')
    assert judge(path) != "build-record"
    path.write_text(json.dumps({"lock-sha256": "0" * 64, "mlenv": "0.1.0", "outputs": {}}))
    assert judge(path) == "build-record"
    (tmp_path / "build.json").write_text("{}")
    assert judge(tmp_path / "build.json") == "build-record"
