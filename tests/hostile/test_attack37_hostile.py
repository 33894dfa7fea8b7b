"""Thirty-seventh adversary pass: files a user or a package hands mlenv whole (an OCI layout or
image archive given to ``inspect`` or as a base image, a conda package's tar streams), in
shapes earlier passes did not try: numbers past Python's digit limit in image JSON, a history
of the wrong type that only the human rendering read, and tar headers that inflate before any
bound was counted. Each test names the invariant and the one function that holds it."""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import tarfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from mlenv.install.conda_packages import check_conda_packages
from mlenv.install.safety import InstallError
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from tests.support.cli import run_mlenv
from tests.support.raw_tars import extension_header, padded, pax, plain_member

PLATFORM = "linux-64"
HUGE = "9" * 5000  # past CPython's 4,300-digit limit for int(str)


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _put(layout: Path, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _blob(layout, digest).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _copy(small_image: Path, tmp_path: Path) -> Path:
    import shutil

    layout = tmp_path / "layout"
    shutil.copytree(small_image, layout)
    return layout


def _documents(layout: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_text())
    return index, manifest, config


def _with_huge_number(layout: Path, which: str) -> None:
    """One document of the layout holding a number of 5,000 digits, re-hashed so the digests
    hold: JSON allows it, CPython's int() refuses it with a plain ValueError."""
    index, manifest, config = _documents(layout)
    if which == "config":
        text = json.dumps(config)[:-1] + f', "x-size": {HUGE}}}'
        manifest["config"].update(_put(layout, text.encode()))
    if which == "manifest":
        text = json.dumps(manifest)[:-1] + f', "x-size": {HUGE}}}'
        index["manifests"][0].update(_put(layout, text.encode()))
    elif which != "index":
        index["manifests"][0].update(_put(layout, json.dumps(manifest).encode()))
    index_text = json.dumps(index)
    if which == "index":
        index_text = index_text[:-1] + f', "schemaVersion": {HUGE}}}'
    if which == "oci-layout":
        (layout / "oci-layout").write_text(f'{{"imageLayoutVersion": "1.0.0", "x": {HUGE}}}')
    (layout / "index.json").write_text(index_text)


def _archive(layout: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as archive:
        for path in sorted(layout.rglob("*")):
            archive.add(path, path.relative_to(layout).as_posix(), recursive=False)
    return dest


@pytest.mark.parametrize("which", ["oci-layout", "index", "manifest", "config"])
@pytest.mark.parametrize("packed", [False, True], ids=["layout", "archive"])
def test_a_number_past_the_digit_limit_in_image_json_is_a_clear_error(
    small_image: Path, tmp_path: Path, which: str, packed: bool
) -> None:
    """Invariant 7, held by `oci.model.parse_json` (the one reader of image JSON): a number of
    5,000 digits in a layout's oci-layout, index.json, manifest or config (a layout directory
    or an oci-archive tar) is an OciError naming the file, for `read_base` (every build's base
    image) and `mlenv inspect` exits 1 without a traceback. Before: int() raised a bare
    ValueError the reader did not catch, and `inspect` failed with an internal error (exit 2)."""
    layout = _copy(small_image, tmp_path)
    _with_huge_number(layout, which)
    image = _archive(layout, tmp_path / "image.tar") if packed else layout
    with pytest.raises(OciError) as caught:
        read_base(image, platform=PLATFORM)
    assert "digit" in caught.value.message
    assert caught.value.where.startswith(str(image))
    done = run_mlenv(["inspect", str(image), "--platform", PLATFORM], cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "digit" in done.stderr


HISTORIES: list[object] = [5, ["x"], {"a": "b"}, None, True]


@pytest.mark.parametrize(
    ("field", "created_by"),
    [("created_by", value) for value in HISTORIES]
    + [("empty_layer", value) for value in HISTORIES if not isinstance(value, bool)],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_a_base_history_entry_of_the_wrong_type_is_refused_before_anything_is_shown(
    small_image: Path, tmp_path: Path, created_by: object, field: str
) -> None:
    """Invariant 7, held by `oci.base_config.config_problem` (the judge of the base config
    fields the build and `inspect` read): a history entry whose `created_by` is not a string,
    or whose `empty_layer` is not a boolean, is refused naming the config, by `read_base` and by
    `mlenv inspect` (exit 1, nothing printed before the error). Before: `inspect --json`
    passed it through and the human table crashed on it after printing its first line
    (AttributeError, internal error, exit 2); a string `empty_layer` of "false" counted as true
    and shifted every layer's history."""
    layout = _copy(small_image, tmp_path)
    index, manifest, config = _documents(layout)
    config["history"] = [{"created_by": "ok", field: created_by}]
    manifest["config"].update(_put(layout, json.dumps(config).encode()))
    index["manifests"][0].update(_put(layout, json.dumps(manifest).encode()))
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(OciError, match="history"):
        read_base(layout, platform=PLATFORM)
    for extra in ([], ["--json"]):
        done = run_mlenv(["inspect", str(layout), "--platform", PLATFORM, *extra], cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
        assert "history" in done.stderr
        assert done.stdout == ""


def test_a_valid_base_history_still_reads(small_image: Path, tmp_path: Path) -> None:
    """The history check refuses only wrong types: entries with a string created_by, a boolean
    empty_layer, or neither, read as before."""
    layout = _copy(small_image, tmp_path)
    index, manifest, config = _documents(layout)
    config["history"] = [
        {"created_by": "ENV A=b", "empty_layer": True},
        {"comment": "no created_by"},
        {"created_by": "base", "empty_layer": False},
    ]
    manifest["config"].update(_put(layout, json.dumps(config).encode()))
    index["manifests"][0].update(_put(layout, json.dumps(manifest).encode()))
    (layout / "index.json").write_text(json.dumps(index))
    read_base(layout, platform=PLATFORM)
    done = run_mlenv(["inspect", str(layout), "--platform", PLATFORM], cwd=tmp_path)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------------------------
# Invariant 7: a conda package's tar headers inflating before any bound was counted

HEADER_MIB = 96


def _header_bomb_tar(kind: bytes) -> bytes:
    """A tar whose first header is an extension record (PAX, PAX global, GNU long name or long
    link) of HEADER_MIB MiB of zeros, then one small member. tarfile reads an extension's
    whole payload into memory before it yields the member it describes."""
    size = HEADER_MIB << 20
    head = tarfile.TarInfo("././@LongLink" if kind in (b"L", b"K") else "././@PaxHeader")
    head.type, head.size = kind, size
    body = tarfile.TarInfo("info/index.json")
    body.size = 2
    out = io.BytesIO()
    out.write(head.tobuf(format=tarfile.USTAR_FORMAT))
    out.write(b"\0" * size)
    out.write(body.tobuf(format=tarfile.USTAR_FORMAT) + b"{}" + b"\0" * 510 + b"\0" * 1024)
    return out.getvalue()


def _header_bomb(kind: bytes, package_format: str, tmp_path: Path) -> tuple[str, Path]:
    tar = _header_bomb_tar(kind)
    if package_format == "tar.bz2":
        name, data = "bomb-1.0-0.tar.bz2", bz2.compress(tar, 9)
    else:
        name, buffer = "bomb-1.0-0.conda", io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("metadata.json", '{"conda_pkg_format_version": 2}')
            archive.writestr("info-bomb-1.0-0.tar.zst", zstandard.compress(tar, 19))
            archive.writestr("pkg-bomb-1.0-0.tar.zst", zstandard.compress(b"\0" * 1024))
        data = buffer.getvalue()
    path = tmp_path / name
    path.write_bytes(data)
    return name, path


@pytest.mark.parametrize("kind", [b"x", b"g", b"L", b"K"], ids=["pax", "global", "long", "link"])
@pytest.mark.parametrize("package_format", ["tar.bz2", "conda"])
def test_a_conda_package_header_bomb_is_refused_before_it_is_held(
    tmp_path: Path, kind: bytes, package_format: str
) -> None:
    """Invariant 7, held by `install.conda_packages._CondaVetting.read_tar`, which bounds the
    decompressed stream itself: a package of a few hundred bytes whose tar opens with a 96 MiB
    PAX, PAX global, GNU long-name or long-link record is refused as a bomb, naming the
    package, having held far less than the record. Before: the bound was counted from each
    member's offset after tarfile had read the whole record into memory (a 331-byte .tar.bz2
    made mlenv hold 200 MiB, a few KiB could make it hold gigabytes, before the refusal)."""
    name, path = _header_bomb(kind, package_format, tmp_path)
    assert path.stat().st_size < 64 << 10
    tracemalloc.start()
    try:
        with pytest.raises(InstallError) as caught:
            check_conda_packages([(name, path)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.where == name
    assert "bomb" in caught.value.message
    assert peak < 16 << 20, f"held {peak >> 20} MiB before refusing"


def test_a_conda_package_near_its_bounds_still_passes(tmp_path: Path) -> None:
    """The stream bound refuses nothing the member bound passed: a package of incompressible
    bytes (ratio ~1) and ones inflating 120-190x (under the 200x bound), in both formats."""
    import random

    from tests.support.conda_channel import build_conda_package

    rng = random.Random(37)
    for random_bytes in (3 << 20, 5 << 10, 6 << 10, 8 << 10):
        data = rng.randbytes(random_bytes) + b"\0" * (1 << 20)
        for fmt in ("tar.bz2", "conda"):
            name, archive = build_conda_package(
                "ok",
                "1.0",
                "0",
                files={"lib/data.bin": data},
                fmt=fmt,
            )
            ratio = len(data) / len(archive)
            assert ratio < 1.5 or 110 < ratio < 195, ratio
            path = tmp_path / name
            path.write_bytes(archive)
            check_conda_packages([(name, path)])


# ---------------------------------------------------------------------------------------------
# Invariant 7: a TOML integer past CPython's digit limit in the manifest, the lock or an import

MANIFEST = '[environment]\nname = "demo"\npython = "3.11"\n'


@pytest.mark.parametrize(
    "number",
    [HUGE, "1_" + "0" * 5000, "-" + HUGE, "+" + HUGE],
    ids=["plain", "under", "neg", "pos"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["lock", "--offline"],
        ["lock", "--check"],
        ["verify"],
        ["export", "--format", "requirements"],
    ],
    ids=" ".join,
)
def test_a_manifest_integer_past_the_digit_limit_is_a_syntax_problem(
    tmp_path: Path, command: list[str], number: str
) -> None:
    """Invariant 7, held by `limits.parse_toml` (the one reader of TOML text): a manifest with
    a decimal integer of 5,000 digits (plain, with underscores, signed) is "not valid TOML"
    naming the file, its line and column, exit 1, in every command and in the no-op `lock`'s
    fast path. Before: tomllib let int()'s bare ValueError out and each command failed with an
    internal error (exit 2)."""
    (tmp_path / "mlenv.toml").write_text(MANIFEST + f"[build]\nx-size = {number}\n")
    done = run_mlenv(command, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "mlenv.toml:5:" in done.stderr and "digits" in done.stderr
    assert not (tmp_path / "mlenv.lock").exists()


@pytest.mark.parametrize("where", ["version", "target", "package"])
@pytest.mark.parametrize(
    "command",
    [
        ["verify"],
        ["diff", "mlenv.lock", "mlenv.lock"],
        ["lock", "--check"],
        ["inspect", "mlenv.lock"],
    ],
)
def test_a_lock_integer_past_the_digit_limit_is_a_clear_error(
    tmp_path: Path, where: str, command: list[str]
) -> None:
    """Invariant 8, held by `limits.parse_toml` through `lockfile_read.loads`: a lock holding a
    5,000-digit integer (its version, a [target] key, a package's size) is "not valid TOML"
    naming the lock, exit 1. Before: an internal error (exit 2) in every command reading it."""
    (tmp_path / "mlenv.toml").write_text(MANIFEST)
    text = {
        "version": f"version = {HUGE}\n",
        "target": f"version = 1\n[target]\nx = {HUGE}\n",
        "package": (
            f'version = 1\n[[platform]]\nname = "linux-64"\n[[platform.package]]\nsize = {HUGE}\n'
        ),
    }[where]
    (tmp_path / "mlenv.lock").write_text(text)
    done = run_mlenv(command, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "mlenv.lock" in done.stderr and "digits" in done.stderr


def test_init_from_a_pyproject_with_an_integer_past_the_digit_limit_is_a_clear_error(
    tmp_path: Path,
) -> None:
    """Invariant 7, held by `limits.parse_toml` through `importers.core._toml`: `init --from` a
    cloned project's pyproject.toml holding a 5,000-digit integer says the file cannot be
    read, exit 1, and writes no manifest. Before: an internal error (exit 2)."""
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\nversion = "1"\ndependencies = []\n[tool.x]\nn = {HUGE}\n'
    )
    done = run_mlenv(["init", "--from", "pyproject.toml"], cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "pyproject.toml" in done.stderr and "digits" in done.stderr
    assert not (tmp_path / "mlenv.toml").exists()


def test_parse_toml_reads_what_tomllib_reads_and_places_the_long_number() -> None:
    """`limits.parse_toml` changes nothing tomllib reads (hex integers of any length have no
    digit limit) and names the line and column of the long integer, not of a long string of
    digits before it."""
    import tomllib

    from mlenv.limits import parse_toml

    text = f'a = "{HUGE}"\nb = 0x{"f" * 5000}\nc = 1_000\n'
    assert parse_toml(text) == tomllib.loads(text)
    with pytest.raises(tomllib.TOMLDecodeError, match=r"at line 4, column 5\)$"):
        parse_toml(text + f"d = {HUGE}\n")
    with pytest.raises(tomllib.TOMLDecodeError, match=r"at line 1, column 9\)$"):
        parse_toml(f"x = [1, {HUGE}]")


# ---------------------------------------------------------------------------------------------
# Invariant 1: a wheel's RECORD hashed with an algorithm the check cannot use


def _record_wheel(tmp_path: Path, algorithm: str, data: bytes, member: str) -> Path:
    import base64

    from tests.support.raw_wheels import DIST_INFO, METADATA, WHEEL, raw_wheel, record_hash

    if algorithm in hashlib.algorithms_available:
        hasher = hashlib.new(algorithm)
        hasher.update(data)
        digest = hasher.digest(32) if algorithm.startswith("shake") else hasher.digest()  # type: ignore[call-arg]
    else:  # a host whose OpenSSL lacks it: the refusal is by name, before any digest is read
        digest = bytes(32)
    value = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    rows = f"{member},{algorithm}={value},{len(data)}\n"
    for name, content in ((f"{DIST_INFO}/METADATA", METADATA), (f"{DIST_INFO}/WHEEL", WHEEL)):
        rows += f"{name},{record_hash(content)},{len(content)}\n"
    rows += f"{DIST_INFO}/RECORD,,\n"
    return raw_wheel(tmp_path, [(member, data)], record=rows)


@pytest.mark.parametrize("algorithm", ["shake_128", "shake_256", "md5-sha1", "sm3", "ripemd160"])
@pytest.mark.parametrize(
    "member", ["evil.py", "evil-1.0.data/scripts/evil", "evil-1.0.data/data/share/evil.bin"]
)
def test_a_record_hash_outside_the_wheel_spec_is_refused_naming_the_member(
    tmp_path: Path, algorithm: str, member: str
) -> None:
    """Invariant 1, held by `install.checks.plan_wheel` (the vetting of every RECORD row): a
    member hashed in RECORD with an algorithm outside the wheel spec's (hashlib's guaranteed
    fixed-length ones, not md5 or sha1) is refused before anything is written, naming the
    wheel and the member. Before: shake_128/shake_256 passed the vetting and crashed the
    post-write check (`digest()` needs a length: TypeError, internal error), and OpenSSL-only
    names (md5-sha1, which is md5 and sha1 side by side; sm3; ripemd160) installed on a host
    whose OpenSSL has them and crashed on one without."""
    from tests.support.installs import install_test_wheels

    wheel = _record_wheel(tmp_path, algorithm, b"x = 1\n" * 50, member)
    with pytest.raises(InstallError) as caught:
        install_test_wheels([wheel], tmp_path / "stage")
    assert caught.value.where == wheel.name
    assert member in caught.value.message and algorithm in caught.value.message
    assert not (tmp_path / "stage").exists()


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "sha3_256", "blake2b"])
def test_a_record_hashed_with_a_spec_algorithm_still_installs(
    tmp_path: Path, algorithm: str
) -> None:
    """The refusal is only of algorithms outside the spec: sha2, sha3 and blake2 still install."""
    from tests.support.installs import install_test_wheels

    wheel = _record_wheel(tmp_path, algorithm, b"x = 1\n" * 50, "evil.py")
    install_test_wheels([wheel], tmp_path / "stage")


@pytest.mark.parametrize(
    "value",
    ["mod:main [50%]", "mod:main [%(missing)s]", "mod:main [%(x]", "mod:main [%%(a)s %]"],
)
def test_an_entry_point_installer_cannot_expand_is_refused_at_vetting(
    tmp_path: Path, value: str
) -> None:
    """Invariant 6's vetting of scripts, held by `install.checks._scripts`: entry_points.txt is
    read as installer reads it ('%' interpolation on), so a value installer cannot expand is
    refused before anything is written, naming entry_points.txt. Before: the vetting read it
    raw and passed it, and installer refused it midway through the install ("cannot be
    installed: '%' must be followed by ...", no member named)."""
    from tests.support.installs import install_test_wheels
    from tests.support.raw_wheels import DIST_INFO, raw_wheel

    text = f"[console_scripts]\nfoo = {value}\n"
    wheel = raw_wheel(
        tmp_path,
        [("mod.py", b"def main(): pass\n"), (f"{DIST_INFO}/entry_points.txt", text.encode())],
    )
    with pytest.raises(InstallError) as caught:
        install_test_wheels([wheel], tmp_path / "stage")
    assert caught.value.where == wheel.name
    assert f"{DIST_INFO}/entry_points.txt" in caught.value.message
    assert "cannot be parsed" in caught.value.message
    assert not (tmp_path / "stage").exists()


def test_entry_points_installer_expands_still_install(tmp_path: Path) -> None:
    """Reading with interpolation changes nothing installer accepts: `%%` and a `%(name)s`
    of a defined key in the extras still install the script."""
    from tests.support.installs import install_test_wheels
    from tests.support.raw_wheels import DIST_INFO, raw_wheel

    text = "[DEFAULT]\nx = mod:main\n[console_scripts]\nfoo = mod:main [100%%, %(x)s]\n"
    wheel = raw_wheel(
        tmp_path,
        [("mod.py", b"def main(): pass\n"), (f"{DIST_INFO}/entry_points.txt", text.encode())],
    )
    install_test_wheels([wheel], tmp_path / "stage")
    assert (tmp_path / "stage" / "bin" / "foo").is_file()
    assert (tmp_path / "stage" / "bin" / "x").is_file()


# ---------------------------------------------------------------------------------------------
# Invariant 8: `lock` writes only a lock its own reader accepts


def _channel_project(tmp_path: Path, mutate: dict[str, object]) -> tuple[Path, dict[str, str]]:
    """A project locking `app` from a local channel whose linux-64 repodata record has the
    fields ``mutate`` says (the package file itself is sound)."""
    from tests.support.conda_channel import build_conda_package, write_channel

    url = write_channel(tmp_path / "channel", [build_conda_package("app", "1.0", "0")])
    repodata = tmp_path / "channel" / "linux-64" / "repodata.json"
    document = json.loads(repodata.read_text())
    for key in ("packages", "packages.conda"):
        for record in document[key].values():
            record.update(mutate)
    repodata.write_text(json.dumps(document))
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        MANIFEST + f'[conda]\nchannels = ["{url}"]\ndependencies = ["app"]\n'
    )
    return project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


@pytest.mark.parametrize(
    "mutate",
    [
        {"subdir": "../../etc"},
        {"subdir": "linux-aarch64"},
        {"version": "2.0"},
        {"build": "1"},
    ],
    ids=["subdir-path", "subdir-other", "version", "build"],
)
def test_lock_never_writes_a_lock_its_reader_refuses(
    tmp_path: Path, mutate: dict[str, object]
) -> None:
    """Invariant 8, held by `commands.lock.write_lock` (the one writer of mlenv.lock): a channel
    whose repodata record contradicts where or under which file name it is listed (a subdir
    that is not the platform's, a version or build that is not its file's) makes `mlenv lock`
    fail, naming the package, writing no lock. Before: `lock` wrote the lock and exited 0, and
    every later command (`verify`, `fetch`, `build`) refused it as damaged with the hint to
    run `lock --upgrade`, which wrote the same lock again."""
    project, env = _channel_project(tmp_path, mutate)
    done = run_mlenv(["lock"], cwd=project, env=env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "app 1.0" in done.stderr or "app 2.0" in done.stderr
    assert "lock --upgrade" not in done.stderr
    assert not (project / "mlenv.lock").exists()


def test_add_changes_neither_file_when_the_new_lock_would_be_refused(tmp_path: Path) -> None:
    """Invariant 8 through `mlenv add` (`commands.lock.apply_edit` judges the new lock with
    `commands.lock.rendered` before it writes the manifest): adding a conda package whose
    channel record contradicts its file leaves mlenv.toml and mlenv.lock byte for byte as
    they were. Before: both were written, and the new lock was refused by every command."""
    project, env = _channel_project(tmp_path, {"subdir": "linux-aarch64"})
    manifest = project / "mlenv.toml"
    text = manifest.read_text().replace('dependencies = ["app"]', "dependencies = []")
    manifest.write_text(text)
    done = run_mlenv(["lock"], cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    before = (manifest.read_bytes(), (project / "mlenv.lock").read_bytes())
    done = run_mlenv(["add", "--conda", "app"], cwd=project, env=env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "subdir 'linux-aarch64'" in done.stderr
    assert (manifest.read_bytes(), (project / "mlenv.lock").read_bytes()) == before


# ---------------------------------------------------------------------------------------------
# Invariant 1 (a bundle is judged by what it holds): its manifest against its lock


@pytest.fixture(scope="module")
def bundle_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project locked from a find-links directory and fetched into ``B``, a bundle."""
    from tests.support.wheels import build_wheel

    root = tmp_path_factory.mktemp("bundled")
    (root / "wheels").mkdir()
    name, data = build_wheel("app", "1.0", files={"app/__init__.py": b"x = 1\n"})
    (root / "wheels" / name).write_bytes(data)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "b"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
        'dependencies = ["app"]\n[build]\noutputs = ["conda-pack"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(root / "cache")}
    for command in (["lock"], ["fetch", "--bundle", "B"]):
        done = run_mlenv(command, root, env)
        assert done.returncode == 0, done.stderr
    return root / "B"


def _restate(bundle: Path, name: str, data: bytes | None) -> None:
    """``name`` in the bundle replaced by ``data`` (None: removed), bundle.json made to agree:
    anyone who can change a bundle can rewrite its index too."""
    index = json.loads((bundle / "bundle.json").read_text())
    files = [entry for entry in index["files"] if entry["path"] != name]
    if data is None:
        (bundle / name).unlink()
    else:
        (bundle / name).write_bytes(data)
        files.append({"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    index["files"] = sorted(files, key=lambda entry: entry["path"])
    (bundle / "bundle.json").write_text(json.dumps(index))


BUNDLE_MANIFESTS: dict[str, Callable[[str], str | None]] = {
    "added-dependency": lambda text: text.replace('["app"]', '["app", "numpy"]'),
    "other-python": lambda text: text.replace('python = "3.11"', 'python = "3.12"'),
    "other-index": lambda text: text.replace("nonexistent-mlenv-index", "elsewhere"),
    "not-toml": lambda text: text + "[[[\n",
    "not-utf8": lambda text: text + "# \udcff\n",
    "removed": lambda text: None,
}


@pytest.mark.parametrize("shape", sorted(BUNDLE_MANIFESTS))
def test_verify_bundle_judges_the_bundles_manifest_against_its_lock(
    bundle_project: Path, tmp_path: Path, shape: str
) -> None:
    """Invariant 1's judging of a bundle, held by `commands.verify.verify_bundle`: a bundle
    whose mlenv.toml (re-listed in bundle.json) no longer matches its lock (a dependency
    added, another Python, another index), is not TOML or UTF-8, or is gone, fails `verify
    --bundle` (exit 1) naming mlenv.toml, since the air-gapped `build` in it would refuse it.
    Before: "OK: bundle ... is complete" for every one of them."""
    import shutil

    bundle = tmp_path / "B"
    shutil.copytree(bundle_project, bundle)
    text = (bundle / "mlenv.toml").read_text()
    changed = BUNDLE_MANIFESTS[shape](text)
    data = None if changed is None else changed.encode("utf-8", "surrogateescape")
    _restate(bundle, "mlenv.toml", data)
    done = run_mlenv(["verify", "--bundle", str(bundle)], tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "mlenv.toml" in done.stdout + done.stderr
    assert "OK: bundle" not in done.stdout


def test_verify_bundle_still_passes_the_bundle_fetch_wrote(
    bundle_project: Path, tmp_path: Path
) -> None:
    """The manifest check refuses nothing `fetch --bundle` writes: its redacted manifest is
    fresh against its lock."""
    done = run_mlenv(["verify", "--bundle", str(bundle_project)], tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "OK: bundle" in done.stdout


# ---------------------------------------------------------------------------------------------
# Invariant 7 (the cache is trusted for nothing): `inspect mlenv.lock` over planted cache files


def _bad_zips() -> dict[str, bytes]:
    import struct

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/__init__.py", b"x = 1\n")
    good = buffer.getvalue()
    utf8 = bytearray(good)  # a name flagged UTF-8 that is not: zipfile raises UnicodeDecodeError
    at = utf8.index(b"PK\x01\x02")
    struct.pack_into("<H", utf8, at + 8, struct.unpack_from("<H", utf8, at + 8)[0] | 0x800)
    utf8[at + 46] = 0xFF
    return {"utf8-flag": bytes(utf8), "empty": b"", "garbage": b"PK\x05\x06" + b"\xff" * 40}


@pytest.mark.parametrize("shape", sorted(_bad_zips()))
def test_inspect_a_lock_over_a_planted_cache_file_never_crashes(
    bundle_project: Path, tmp_path: Path, shape: str
) -> None:
    """Invariant 7, held by `inspect._wheel_members` (which reads a cached wheel only to size
    it, unverified): a file planted in the shared cache under a locked wheel's sha256 that
    zipfile refuses with something other than BadZipFile (a name flagged UTF-8 that is not:
    UnicodeDecodeError) counts as "not known", and `mlenv inspect mlenv.lock` exits 0.
    Before: an internal error (exit 2)."""
    import shutil

    from mlenv.cache.artifacts import relative_path
    from mlenv.lockfile_read import loads

    project = tmp_path / "project"
    shutil.copytree(bundle_project.parent, project, ignore=shutil.ignore_patterns("B"))
    lock = loads((project / "mlenv.lock").read_text())
    planted = project / "cache" / relative_path(lock.packages()[0][1].sha256)
    planted.chmod(0o644)
    planted.write_bytes(_bad_zips()[shape])
    done = run_mlenv(
        ["inspect", "mlenv.lock"], project, {"MLENV_CACHE_DIR": str(project / "cache")}
    )
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------------
# Invariant 7: an index's Content-Range past the digit limit


@pytest.mark.parametrize("which", ["start", "end", "total"])
@pytest.mark.parametrize("answer", ["first", "later"])
def test_a_content_range_past_the_digit_limit_is_an_http_error(which: str, answer: str) -> None:
    """Invariant 7, held by `index.wheelmeta._content_range` (the one reader of a range
    answer's Content-Range): a 206 whose start, end or total has 5,000 digits, in the first
    range answer or a later one, is an HttpError naming the wheel's URL ("unusable
    Content-Range"), never int()'s bare ValueError (`lock` failed with an internal error)."""
    import random
    import re

    import httpx

    from mlenv.index import HttpClient, HttpError
    from mlenv.index.model import MetadataError
    from mlenv.index.wheelmeta import read_wheel_metadata
    from tests.support.index_files import plain_wheel_file
    from tests.support.wheels import build_wheel

    files = {f"demo/module_{i:05d}.py": b"" for i in range(4000)}
    files["demo/blob.bin"] = random.Random(1).randbytes(300_000)
    data = build_wheel("demo", "1.0", files=files)[1]
    url = "https://files.example/demo-1.0-py3-none-any.whl"
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        wanted = request.headers.get("range", "")
        seen.append(wanted)
        first, last = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted).groups()  # type: ignore[union-attr]
        if first == "":
            start, end = len(data) - int(last), len(data) - 1
        else:
            start, end = int(first), min(len(data) - 1, int(last))
        parts = {"start": str(start), "end": str(end), "total": str(len(data))}
        if answer == "first" or len(seen) > 1:
            parts[which] = HUGE
        header = f"bytes {parts['start']}-{parts['end']}/{parts['total']}"
        return httpx.Response(206, headers={"Content-Range": header}, content=data[start : end + 1])

    http = HttpClient(transport=httpx.MockTransport(handle), retries=0)
    with pytest.raises((HttpError, MetadataError)) as caught:
        read_wheel_metadata(plain_wheel_file("demo", url, "https://files.example"), http)
    assert url in caught.value.where


# ---------------------------------------------------------------------------------------------
# Invariant 8: a conda record's version or spec past the digit limit


@pytest.mark.parametrize(
    "record",
    [
        ("cuda-version", HUGE, (), ()),
        ("cudatoolkit", "11." + HUGE, (), ()),
        ("app", "1.0", ("__cuda >=" + HUGE,), ()),
        ("app", "1.0", ("cuda-version " + HUGE + ".*",), ()),
        ("app", "1.0", (), ("cuda-version >=12." + HUGE,)),
    ],
    ids=["cuda-version", "cudatoolkit", "depends-cuda", "depends-glob", "constrains"],
)
def test_a_conda_cuda_spec_past_the_digit_limit_is_a_cuda_error(
    record: tuple[str, str, tuple[str, ...], tuple[str, ...]],
) -> None:
    """Invariant 8, held by `cuda.versions.spec_floor` (the one reader of a conda version spec's
    floor, for a record itself and its depends and constrains): a bound of 5,000 digits is a
    CudaError naming the record, shown shortened. Before: int()'s bare ValueError, so
    `verify` of a lock holding such a record, and `lock` from a channel serving one, failed
    with an internal error."""
    from mlenv.cuda.tags import extract_conda
    from mlenv.cuda.versions import CudaError

    name, version, depends, constrains = record
    with pytest.raises(CudaError) as caught:
        extract_conda(name, version, "h0", depends, constrains)
    assert caught.value.where.startswith(name)
    assert len(caught.value.message) < 1000


def test_verify_a_lock_whose_conda_record_depends_on_a_huge_cuda_is_a_clear_error(
    tmp_path: Path,
) -> None:
    """The same through `mlenv verify`: a lock whose conda record depends on `__cuda` of a
    5,000-digit version (a virtual package, so the closure check has nothing to find) exits 1
    naming the record. Before: an internal error (exit 2)."""
    project, env = _channel_project(tmp_path, {})
    assert run_mlenv(["lock"], cwd=project, env=env).returncode == 0
    lock = project / "mlenv.lock"
    text = lock.read_text()
    assert "depends = []" in text
    lock.write_text(text.replace("depends = []", f'depends = ["__cuda >={HUGE}"]', 1))
    done = run_mlenv(["verify"], cwd=project, env=env)
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "cuda-unreadable" in done.stdout and "app" in done.stdout
    assert len(done.stdout + done.stderr) < 5000


@pytest.mark.parametrize("cuda", [f"{HUGE}.4", f"12.{HUGE}"], ids=["major", "minor"])
def test_a_lock_target_cuda_past_the_digit_limit_is_a_clear_error(
    tmp_path: Path, cuda: str
) -> None:
    """Invariant 8, held by `cuda.versions.CudaVersion.parse` (the one reader of a CUDA
    major.minor: the manifest, the lock's [target], node labels, the host): a lock whose
    [target].cuda has a 5,000-digit major or minor is refused by `verify` (exit 1), never
    int()'s bare ValueError from the judge (an internal error, exit 2, before)."""
    from mlenv.cuda.versions import CudaError, CudaVersion

    with pytest.raises(CudaError):
        CudaVersion.parse(cuda)
    project, env = _channel_project(tmp_path, {})
    assert run_mlenv(["lock"], cwd=project, env=env).returncode == 0
    lock = project / "mlenv.lock"
    text = lock.read_text().replace(
        'conda-requirements = ["app"]\n',
        f'conda-requirements = ["app"]\ncuda = "{cuda}"\ndriver-floor = "550.54.14"\n',
    )
    lock.write_text(text)
    for command in (["verify"], ["verify", "--driver", "550.54.14"]):
        done = run_mlenv(command, cwd=project, env=env)
        assert done.returncode == 1, done.stderr
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------------
# Invariant 6: a conda tar whose member names Python's tarfile and rattler's (Rust) tar read apart


SHOWN, HIDDEN = "share/shown.txt", "bin/conda-unpack"
# Each: the headers before one member. tarfile takes the first of two extension headers for a
# name, and a PAX path over a GNU long name that follows it; rattler's tar crate the last, and
# a GNU long name over any PAX path: what the vetting judged is not what rattler writes.
AMBIGUOUS = {
    "pax-then-gnu-name": [(b"x", pax(path=SHOWN)), (b"L", HIDDEN.encode() + b"\0")],
    "gnu-then-pax-name": [(b"L", SHOWN.encode() + b"\0"), (b"x", pax(path=HIDDEN))],
    "two-gnu-names": [(b"L", SHOWN.encode() + b"\0"), (b"L", HIDDEN.encode() + b"\0")],
    "two-pax-names": [(b"x", pax(path=SHOWN)), (b"x", pax(path=HIDDEN))],
    "global-pax-name": [(b"g", pax(path=SHOWN)), (b"x", pax(mtime="0"))],
}
AMBIGUOUS_LINKS = {
    "pax-then-gnu-link": [(b"x", pax(linkpath="shown.txt")), (b"K", b"../../../etc/passwd\0")],
    "two-gnu-links": [(b"K", b"shown.txt\0"), (b"K", b"../../../etc/passwd\0")],
    "global-pax-link": [(b"g", pax(linkpath="shown.txt")), (b"x", pax(mtime="0"))],
}


def _ambiguous_package(tmp_path: Path, headers: list[tuple[bytes, bytes]], link: bool) -> Path:
    data = b"hello\n"
    member = "share/link" if link else HIDDEN
    entry: dict[str, object] = {"_path": member, "path_type": "softlink" if link else "hardlink"}
    if not link:
        entry.update(sha256=hashlib.sha256(data).hexdigest(), size_in_bytes=len(data))
    index = {"name": "sneaky", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    tar = (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member(
            "info/paths.json", json.dumps({"paths": [entry], "paths_version": 1}).encode()
        )
        + plain_member("info/files", f"{member}\n".encode())
        + b"".join(extension_header(kind, payload) for kind, payload in headers)
        + plain_member(member if link else "placeholder", data, "shown.txt" if link else None)
        + b"\0" * 1024
    )
    path = tmp_path / "sneaky-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(tar + b"\0" * (-len(tar) % tarfile.RECORDSIZE)))
    return path


@pytest.mark.parametrize(
    ("headers", "link"),
    [
        *((headers, False) for headers in AMBIGUOUS.values()),
        *((headers, True) for headers in AMBIGUOUS_LINKS.values()),
    ],
    ids=[*AMBIGUOUS, *AMBIGUOUS_LINKS],
)
def test_a_conda_member_whose_name_tar_readers_disagree_on_is_refused(
    tmp_path: Path, headers: list[tuple[bytes, bytes]], link: bool
) -> None:
    """Invariant 6, held by `install.conda_packages._CondaVetting._check_member` over the
    headers `_Headers` records: a member described by two extension headers for one name or
    link target (two GNU long names, two PAX records, a PAX path and a GNU long name, or a
    global PAX path) is refused naming the package, since tarfile (the vetting) and rattler's
    tar crate (the install) read different names from it. Before: the vetting judged
    `share/shown.txt` while rattler linked `bin/conda-unpack` (a name mlenv keeps) or a
    symlink to `../../../etc/passwd` into the prefix, past the ledger."""
    path = _ambiguous_package(tmp_path, headers, link)
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "extension header" in caught.value.message


def test_the_conda_install_refuses_the_package_rattler_would_misread(tmp_path: Path) -> None:
    """End to end through `conda.install.install` (which vets, then runs rattler): the
    pax-then-gnu-name package is refused before rattler sees it, and nothing is staged.
    Before: rattler installed `bin/conda-unpack` from it, a name the vetting never saw
    (tarfile read `share/shown.txt`)."""
    from tests.support.conda_channel import assert_install_refuses

    path = _ambiguous_package(tmp_path, AMBIGUOUS["pax-then-gnu-name"], False)
    with tarfile.open(path) as archive:
        assert HIDDEN not in archive.getnames() and SHOWN in archive.getnames()
    assert_install_refuses(path, "extension header")


@pytest.mark.parametrize("kind", ["gnu-name", "gnu-link", "pax-name", "pax-link"])
def test_one_extension_header_for_a_long_name_still_passes(tmp_path: Path, kind: str) -> None:
    """What real packages hold passes: one GNU long name or link (rattler-build's tar crate
    writes them for paths over 100 bytes) or one PAX record (Python's tarfile, conda-build)."""
    long = "lib/" + "d" * 120 + "/file.txt"
    headers = {
        "gnu-name": [(b"L", long.encode() + b"\0")],
        "gnu-link": [(b"K", ("x" * 120).encode() + b"\0")],
        "pax-name": [(b"x", pax(path=long))],
        "pax-link": [(b"x", pax(linkpath="x" * 120))],
    }[kind]
    data = b"hello\n"
    link = kind.endswith("link")
    name = "lib/link" if link else long
    index = {"name": "ok", "version": "1.0", "build": "0", "build_number": 0,
             "depends": [], "subdir": "linux-64"}  # fmt: skip
    tar = (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member("info/files", f"{name}\n".encode())
        + b"".join(extension_header(k, payload) for k, payload in headers)
        + plain_member("lib/link" if link else "placeholder", data, "placeholder" if link else None)
        + b"\0" * 1024
    )
    path = tmp_path / "ok-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(tar))
    check_conda_packages([(path.name, path)])


def _prefixed_member(name: str, prefix: bytes, data: bytes, link: str | None = None) -> bytes:
    """A header of GNU (not POSIX ustar) magic whose ustar prefix field holds ``prefix``:
    tarfile joins it to the name, the tar crate reads a prefix only under ustar magic."""
    info = tarfile.TarInfo(name)
    if link is None:
        info.size, info.mode = len(data), 0o644
    else:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[345 : 345 + len(prefix)] = prefix
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + (padded(data) if link is None else b"")


def _listing_package(tmp_path: Path, listed: str, body: bytes, link: bool = False) -> Path:
    data = b"hello\n"
    entry: dict[str, object] = {"_path": listed, "path_type": "softlink" if link else "hardlink"}
    if not link:
        entry.update(sha256=hashlib.sha256(data).hexdigest(), size_in_bytes=len(data))
    index = {"name": "sneaky", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
             "subdir": "linux-64", "arch": "x86_64", "platform": "linux"}  # fmt: skip
    paths = json.dumps({"paths": [entry], "paths_version": 1}).encode()
    tar = (
        plain_member("info/index.json", json.dumps(index).encode())
        + plain_member("info/paths.json", paths)
        + plain_member("info/files", f"{listed}\n".encode())
        + body
        + b"\0" * 1024
    )
    path = tmp_path / "sneaky-1.0-0.tar.bz2"
    path.write_bytes(bz2.compress(tar + b"\0" * (-len(tar) % tarfile.RECORDSIZE)))
    return path


def test_a_conda_member_with_a_prefix_field_outside_ustar_is_refused(tmp_path: Path) -> None:
    """Invariant 6, held by `install.conda_packages._CondaVetting._check_member` over what
    `_Headers.frombuf` records: a header without POSIX ustar magic whose prefix field is set
    (tarfile reads `share/bin/conda-unpack`, rattler's tar crate `bin/conda-unpack`) is
    refused naming the package. Before: the vetting judged `share/bin/conda-unpack` and
    rattler installed `bin/conda-unpack`."""
    data = b"hello\n"
    body = _prefixed_member("bin/conda-unpack", b"share", data)
    path = _listing_package(tmp_path, "bin/conda-unpack", body)
    with tarfile.open(path) as archive:
        assert "share/bin/conda-unpack" in archive.getnames()
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "prefix" in caught.value.message


def test_a_symlink_deeper_for_the_vetting_than_for_rattler_is_refused(tmp_path: Path) -> None:
    """The prefix shape on a symlink: tarfile sees `a/b/c/x -> ../../../etc` (inside the
    prefix at that depth), the tar crate `x -> ../../../etc` (out of it), listed as the
    regular member `x` also holds. Refused, naming the package."""
    body = plain_member("x", b"hello\n") + _prefixed_member("x", b"a/b/c", b"", link="../../../etc")
    path = _listing_package(tmp_path, "x", body, link=True)
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name


@pytest.mark.parametrize("listing", ["paths.json", "files"])
def test_a_conda_package_listing_a_path_it_does_not_hold_is_refused(
    tmp_path: Path, listing: str
) -> None:
    """Invariant 6, held by `install.conda_packages._vet_conda`: rattler links what
    info/paths.json (or info/files) lists, so every listed path must be a member the vetting
    read; one that is not (the shape every tar-reader disagreement over a name takes, since
    rattler can only link what its own reading extracted) is refused naming the listing.
    Before: only its spelling was checked, and the ledger never judged it."""
    body = plain_member("share/shown.txt", b"hello\n")
    path = _listing_package(tmp_path, "bin/conda-unpack", body)
    if listing == "files":  # no paths.json: rattler falls back to info/files
        with tarfile.open(path) as archive:
            members = [
                (info, archive.extractfile(info).read() if info.isfile() else b"")  # type: ignore[union-attr]
                for info in archive.getmembers()
                if info.name != "info/paths.json"
            ]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
            for info, data in members:
                archive.addfile(info, io.BytesIO(data))
        path.write_bytes(bz2.compress(buffer.getvalue()))
    with pytest.raises(InstallError) as caught:
        check_conda_packages([(path.name, path)])
    assert caught.value.where == path.name
    assert "bin/conda-unpack" in caught.value.message
    assert f"info/{listing}" in caught.value.message


# ---------------------------------------------------------------------------------------------
# Invariant 7: an image archive whose extension header is gigabytes of a sparse file


@pytest.mark.parametrize("kind", [b"x", b"g", b"L", b"K"], ids=["pax", "global", "long", "link"])
def test_an_image_archive_with_a_huge_extension_header_is_refused_unread(
    tmp_path: Path, kind: bytes
) -> None:
    """Invariant 7, held by `oci.read.TarSource` (through `_Headers`, its member reader): an
    image archive (a few KiB on disk, sparse) whose first header is a 256 MiB PAX, global
    PAX, GNU long-name or long-link record is refused as "not an image archive" naming the
    file, by `read_base` and `mlenv inspect`, without reading the record. Before: tarfile
    read the whole record into memory (a 16 GiB sparse file: 16 GiB held) before anything
    was judged."""
    size = 256 << 20
    header = tarfile.TarInfo("././@LongLink" if kind in (b"L", b"K") else "././@PaxHeader")
    header.type, header.size = kind, size
    path = tmp_path / "image.tar"
    with path.open("wb") as out:
        out.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        out.seek(512 + size)
        layout = tarfile.TarInfo("oci-layout")
        layout.size = 2
        out.write(layout.tobuf(format=tarfile.USTAR_FORMAT) + padded(b"{}") + b"\0" * 1024)
    assert path.stat().st_blocks * 512 < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(OciError) as caught:
            read_base(path, platform=PLATFORM)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "not an image archive" in caught.value.message
    assert caught.value.where == str(path)
    assert peak < 16 << 20, f"held {peak >> 20} MiB"
    done = run_mlenv(["inspect", str(path), "--platform", PLATFORM], cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "not an image archive" in done.stderr


def test_an_unreadable_conda_spec_hides_a_token_past_the_echo_limit() -> None:
    """Invariant 5 at the right depth: `spec_floor` cut its ``where`` (the spec itself, from
    `conda.explain`) at 300 characters before the error was shown, so a token after 250
    characters of spec lost the '@' that marks it as a userinfo and its head was shown. Now
    the error keeps ``where`` whole and `errors.Problem.render` hides, then cuts."""
    from mlenv.cuda.versions import CudaError, spec_floor

    token = "ghp_" + "A1b2" * 70
    spec = "x" * 250 + " https://user:" + token + "@host/x"
    with pytest.raises(CudaError) as caught:
        spec_floor(spec, where=spec)
    shown_text = caught.value.render()
    assert "***@host" in shown_text
    assert not any(token[i : i + 8] in shown_text for i in range(len(token) - 8))
