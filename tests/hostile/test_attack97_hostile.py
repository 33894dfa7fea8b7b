"""Attack on the OCI-only build's streamed big members (``mlenv.install.streamed``): the image
must be the written tree's, byte for byte, and a big member unlike its RECORD or CRC must fail
the build (exit 1, the wheel and the member named, no traceback, dist untouched, no scratch
wheel copies left behind), whatever the member's shape in the zip."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from mlenv.direct import BIG
from mlenv.install.safety import InstallError
from mlenv.tarball import LayerBlob
from tests.support.cli import run_mlenv
from tests.support.golden import build
from tests.support.raw_wheels import (
    DIST_INFO,
    METADATA,
    WHEEL,
    Member,
    raw_wheel,
    record_hash,
)
from tests.support.streamed_wheels import (
    big_blob,
    both_ways,
    corrupt_wheel,
    golden_with,
    install_as,
    layer_of,
    layers_of,
    lying_wheel,
    zip_info,
)


@pytest.mark.parametrize(
    "member",
    [
        "evil/blob.so",  # a platlib-like binary
        "evil/blob.pyc",  # big bytecode shipped in the wheel: never compiled, streamed
        "evil-1.0.data/data/share/evil/model.bin",  # the data scheme, outside site-packages
        "evil-1.0.data/purelib/evil/lib.bin",
        f"{DIST_INFO}/LICENSE",  # a huge licence inside .dist-info
    ],
)
@pytest.mark.parametrize("stored", [False, True])
def test_each_scheme_and_compression_gives_the_written_layer(
    tmp_path: Path, member: str, stored: bool
) -> None:
    """Holds: a big member of any scheme (and in .dist-info), stored or deflated, streams into
    the same layer bytes as the written tree gives, with the same RECORD."""
    info = zip_info(member, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    wheel = raw_wheel(tmp_path, [("evil/__init__.py", b""), (info, big_blob(1))])
    streamed, written, layer = both_ways(tmp_path, [wheel])
    assert len(streamed.streamed) == 1
    assert layer == written


def test_zip64_and_data_descriptor_members_give_the_written_layer(tmp_path: Path) -> None:
    """Holds: ZIP64 extra fields and a data descriptor (flag bit 3) stream the written bytes."""
    path = tmp_path / "evil-1.0-py3-none-any.whl"
    zip64, described = big_blob(2), big_blob(3)
    rows = [("evil/__init__.py", b""), ("evil/z64.bin", zip64), ("evil/dd.bin", described),
            (f"{DIST_INFO}/METADATA", METADATA), (f"{DIST_INFO}/WHEEL", WHEEL)]  # fmt: skip
    record = "".join(f"{n},{record_hash(d)},{len(d)}\n" for n, d in rows)
    record += f"{DIST_INFO}/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in rows:
            if name == "evil/z64.bin":
                with archive.open(zip_info(name), "w", force_zip64=True) as out:
                    out.write(data)
            elif name == "evil/dd.bin":
                with archive.open(zip_info(name), "w") as out:  # unseekable-style: flag bit 3
                    out.write(data)
            else:
                archive.writestr(name, data)
        archive.writestr(f"{DIST_INFO}/RECORD", record)
    streamed, written, layer = both_ways(tmp_path, [path])
    assert {m.info.filename for m in streamed.streamed} == {"evil/z64.bin", "evil/dd.bin"}
    assert layer == written


def test_a_big_member_two_wheels_own_is_streamed_once(tmp_path: Path) -> None:
    """Holds: the same big file (same RECORD hash) claimed by two wheels is streamed by the
    one that owns it and skipped by the other: one placeholder, the written layer's bytes."""
    shared = big_blob(4)
    one = raw_wheel(tmp_path, [("shared/blob.bin", shared)])
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    two = raw_wheel(
        other_dir, [("shared/blob.bin", shared)], filename="twin-1.0-py3-none-any.whl",
        dist_info="twin-1.0.dist-info",
        metadata=b"Metadata-Version: 2.1\nName: twin\nVersion: 1.0\n\n",
    )  # fmt: skip
    streamed, written, layer = both_ways(tmp_path, [one, two])
    assert [m.target.rsplit("/", 1)[-1] for m in streamed.streamed] == ["blob.bin"]
    assert layer == written


@pytest.mark.parametrize("name", ["evil/blob.bin", "evil-1.0.data/data/share/x.bin"])
def test_a_lying_record_fails_both_paths_naming_wheel_and_member(tmp_path: Path, name: str) -> None:
    """Holds: the written path refuses at install, the streamed one by the layer's read, each
    naming the wheel and the member; the streamed layer never completes."""
    wheel = lying_wheel(tmp_path, name)
    with pytest.raises(InstallError, match="does not match its hash") as written:
        install_as([wheel], tmp_path / "written", "scan")
    installed = install_as([wheel], tmp_path / "streamed", "stream")
    with pytest.raises(InstallError, match="does not match its hash") as streamed:
        layer_of(tmp_path / "streamed", installed)
    assert written.value.where == streamed.value.where == wheel.name
    assert name in str(streamed.value)


def test_oci_only_and_oci_with_conda_pack_ship_the_same_layers(tmp_path: Path) -> None:
    """Holds end to end: the streamed (OCI-only) build's layers are the written build's."""
    (tmp_path / "w").mkdir()
    data = zip_info("evil-1.0.data/data/share/evil/m.bin", zipfile.ZIP_STORED)
    members: list[Member] = [
        ("evil/__init__.py", b""),
        (zip_info("evil/blob.so"), big_blob(7)),
        (data, big_blob(8)),
    ]
    wheel = raw_wheel(tmp_path / "w", members)
    project, cache = golden_with(tmp_path, wheel, '["oci"]')
    done = build(project, cache)
    assert done.returncode == 0, done.stderr
    alone = layers_of(project / "dist")
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('["oci"]', '["oci", "conda-pack"]'))
    done = build(project, cache)
    assert done.returncode == 0, done.stderr
    assert layers_of(project / "dist") == alone


def test_a_lying_record_fails_an_oci_only_build_cleanly(tmp_path: Path) -> None:
    """Holds end to end: exit 1, the wheel and the member named, no traceback, the previous
    dist untouched, and no scratch (wheel copies, staging) left beside it."""
    (tmp_path / "w").mkdir()
    wheel = lying_wheel(tmp_path / "w", "evil/blob.bin")
    project, cache = golden_with(tmp_path, wheel, '["oci"]')
    dist = project / "dist"
    before = sorted(p.name for p in project.iterdir())
    done = build(project, cache)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "evil-1.0-py3-none-any.whl" in done.stderr and "evil/blob.bin" in done.stderr
    assert not dist.exists()
    assert sorted(p.name for p in project.iterdir()) == before


def test_per_package_layers_reused_and_rebuilt_match_the_written_build(tmp_path: Path) -> None:
    """Holds: ``layers = "auto"``, the layer cache, ``--check``, ``--bytecode hash``: an OCI-only
    build, its warm rebuild after a bump (the streamed big layer reused) and an OCI +
    conda-pack build with no cached layer ship the same layers."""
    from tests.support.layered import configure, layered_project

    project = layered_project(tmp_path / "project", '"auto"', host_python=True)
    cache = tmp_path / "cache"
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text() + 'outputs = ["oci"]\n')
    for alpha in ("1.0", "1.1"):
        configure(project, '"auto"', alpha, 'outputs = ["oci"]\n')
        done = build(project, cache, "--check", "--bytecode", "hash")
        assert done.returncode == 0, done.stderr
    streamed = layers_of(project / "dist")
    configure(project, '"auto"', "1.1", 'outputs = ["oci", "conda-pack"]\n')
    shutil.rmtree(cache / "layers-v1")  # every layer written afresh, from the written tree
    done = build(project, cache, "--bytecode", "hash")
    assert done.returncode == 0, done.stderr
    assert layers_of(project / "dist") == streamed
    assert len(streamed) > 1


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_bzip2_and_lzma_members_stream_the_written_layer(tmp_path: Path, compression: int) -> None:
    """Holds: members zipfile inflates for mlenv (neither stored nor deflated) stream the
    written bytes too."""
    info = zip_info("evil/a.bin", compression)
    wheel = raw_wheel(
        tmp_path, [(info, big_blob(10)), (zip_info("evil/b.bin", compression), big_blob(11))]
    )
    streamed, written, layer = both_ways(tmp_path, [wheel])
    assert len(streamed.streamed) == 2
    assert layer == written


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
@pytest.mark.parametrize("size", [BIG + 4099, 4099])
def test_a_corrupt_bzip2_or_lzma_member_is_the_wheels_fault(
    tmp_path: Path, compression: int, size: int
) -> None:
    """Found: a corrupt LZMA member was an internal error (``LZMAError`` escaped, exit 2), and
    a corrupt bzip2 one streamed was called a disk error at the scratch copy's path (bz2 says
    ``OSError``). Both paths must refuse the wheel by name, with the wheel hint."""
    wheel = corrupt_wheel(tmp_path, compression, size)
    for big in ("scan", "stream"):
        with pytest.raises(InstallError) as raised:
            layer_of(tmp_path / big, install_as([wheel], tmp_path / big, big))
        assert raised.value.where == wheel.name
        assert "corrupt" in (raised.value.hint or "")


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_corrupt_big_member_fails_an_oci_only_build_naming_the_wheel(
    tmp_path: Path, compression: int
) -> None:
    """Found, end to end: exit 2 "internal error" (LZMA) or a disk error naming the removed
    scratch copy (bzip2); now exit 1 naming the wheel and the member, no dist."""
    (tmp_path / "w").mkdir()
    wheel = corrupt_wheel(tmp_path / "w", compression, BIG + 4099)
    project, cache = golden_with(tmp_path, wheel, '["oci"]')
    done = build(project, cache)
    assert done.returncode == 1, done.stderr
    assert "error: evil-1.0-py3-none-any.whl:" in done.stderr and "evil/a.bin" in done.stderr
    assert "internal error" not in done.stderr and "check the disk" not in done.stderr
    assert not (project / "dist").exists()


def test_ctrl_c_while_a_member_streams_leaves_nothing(tmp_path: Path) -> None:
    """Holds: SIGINT while the layer is being written (the writer held as it frees a read
    file, the wheel copies still in the work directory) ends the build with 130, no dist, no
    work directory (so no wheel copy) and no layer in the cache."""
    import signal

    from tests.support.faultpoints import Held

    (tmp_path / "w").mkdir()
    wheel = raw_wheel(tmp_path / "w", [(zip_info("evil/a.bin"), big_blob(12, 64 << 20))])
    project, cache = golden_with(tmp_path, wheel, '["oci"]')
    env = {"MLENV_CACHE_DIR": str(cache)}
    with Held(("os.remove", 2), ["build", "--offline"], project, env, tmp_path / "held") as held:
        (work,) = [p for p in project.iterdir() if p.name.startswith(".dist.work-")]
        assert (work / "out" / "layer-0.tmp").exists()  # held inside the layer's write
        assert any((work / "artifacts").iterdir())  # the streamed wheel's copy is kept
        held._process.send_signal(signal.SIGINT)
    assert held.returncode == 130, held.stderr
    assert "Traceback" not in held.stderr
    assert sorted(p.name for p in project.iterdir()) == ["mlenv.lock", "mlenv.toml", "wheels"]
    layers = cache / "layers-v1"
    assert not layers.exists() or not any(p.is_file() for p in layers.rglob("*"))


def test_wheels_onto_a_conda_tree_stream_the_written_layers(tmp_path: Path) -> None:
    """Holds: big members installed onto a conda tree (placeholders among conda's files)
    give the layers an OCI + conda-pack build of the same lock writes, with no cached layer."""
    from tests.support.conda_channel import write_channel
    from tests.support.conda_project import channel_packages
    from tests.support.wheels import build_wheel, write_simple_index

    channel = write_channel(tmp_path / "channel", channel_packages())
    files = {
        "app/__init__.py": b"",
        "app/blob.so": big_blob(13, 3 << 20),
        "app/x.bin": big_blob(14),
    }
    index = write_simple_index(tmp_path / "pypi", [build_wheel("app", "1.0", files=files)])
    project = tmp_path / "project"
    project.mkdir()
    manifest = project / "mlenv.toml"
    manifest.write_text(
        '[environment]\nname = "mixed"\npython = "3.11"\nprefix = "/opt/mlenv/mixed"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.11.*", "fastmath"]\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["app"]\n[build]\noutputs = ["oci"]\n'
    )
    cache = tmp_path / "cache"
    for args in (["lock"], ["fetch"]):
        done = run_mlenv(args, project, {"MLENV_CACHE_DIR": str(cache)})
        assert done.returncode == 0, (args, done.stderr)
    done = build(project, cache)
    assert done.returncode == 0, done.stderr
    streamed = layers_of(project / "dist")
    shutil.rmtree(cache / "layers-v1")
    manifest.write_text(manifest.read_text().replace('["oci"]', '["oci", "conda-pack"]'))
    done = build(project, cache)
    assert done.returncode == 0, done.stderr
    assert layers_of(project / "dist") == streamed


def test_on_a_base_image_streamed_layers_are_the_written_ones(tmp_path: Path) -> None:
    """Holds: on a base image (the prefix's parents left to the base), per-package layers of
    an OCI-only build are those of an OCI + conda-pack build, no cached layer between."""
    from mlenv.tarball import Entry
    from tests.support.images import write_image
    from tests.support.layered import configure, layered_project

    base = tmp_path / "base"
    write_image(base, [("root", [Entry("opt", "dir", 0o755)])], ref="b", cmd=["/bin/sh"])
    project = layered_project(tmp_path / "project", '"auto"')
    cache = tmp_path / "cache"
    configure(project, '"auto"', "1.0", f'base-image = "{base}"\noutputs = ["oci"]\n')
    done = build(project, cache)
    assert done.returncode == 0, done.stderr
    streamed = layers_of(project / "dist")
    shutil.rmtree(cache / "layers-v1")
    configure(project, '"auto"', "1.0", f'base-image = "{base}"\noutputs = ["oci", "conda-pack"]\n')
    done = build(project, cache)
    assert done.returncode == 0, done.stderr
    assert layers_of(project / "dist") == streamed
    assert len(streamed) > 2


@pytest.mark.parametrize("form", ["hex", "padded", "sha512", "sha256-wrong-length"])
def test_record_digest_forms_stream_or_write_the_same_bytes(tmp_path: Path, form: str) -> None:
    """Holds: RECORD digests in hex, padded, sha512 or cut short: streamed only when a sha256
    binds, the written tree's bytes either way; a digest binding nothing is refused by both."""
    import base64
    import hashlib

    content = big_blob(15)
    digest = hashlib.sha256(content).digest()
    value = {
        "hex": f"sha256={digest.hex()}",
        "padded": f"sha256={base64.urlsafe_b64encode(digest).decode()}",
        "sha512": f"sha512={base64.urlsafe_b64encode(hashlib.sha512(content).digest()).decode()}",
        "sha256-wrong-length": f"sha256={base64.urlsafe_b64encode(digest[:31]).decode()}",
    }[form]
    rows = [(f"{DIST_INFO}/METADATA", METADATA), (f"{DIST_INFO}/WHEEL", WHEEL)]
    record = f"evil/blob.bin,{value},{len(content)}\n"
    record += "".join(f"{n},{record_hash(d)},{len(d)}\n" for n, d in rows)
    wheel = raw_wheel(
        tmp_path, [("evil/blob.bin", content)], record=record + f"{DIST_INFO}/RECORD,,\n"
    )
    if form == "sha256-wrong-length":
        for big in ("scan", "stream"):
            with pytest.raises(InstallError, match="does not match its hash"):
                layer_of(tmp_path / big, install_as([wheel], tmp_path / big, big))
        return
    streamed, written, layer = both_ways(tmp_path, [wheel])
    assert len(streamed.streamed) == (0 if form == "sha512" else 1)
    assert layer == written


@pytest.mark.parametrize("field", ["name", "method", "sizes"])
def test_a_local_header_unlike_the_directory_is_refused_or_ignored_alike(
    tmp_path: Path, field: str
) -> None:
    """Holds: a local header whose name, method or sizes differ from the central directory's
    (which zipfile reads) fails both paths naming the wheel, or gives the written layer."""
    wheel = raw_wheel(tmp_path, [("evil/blob.bin", big_blob(16))])
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        offset = archive.getinfo("evil/blob.bin").header_offset
    if field == "name":
        data[offset + 30 + 5] ^= 0x20  # evil/Blob.bin
    elif field == "method":
        data[offset + 8 : offset + 10] = b"\x00\x00"  # stored, says the local header
    else:
        data[offset + 18 : offset + 26] = bytes(8)  # zero sizes, no data descriptor flag
    wheel.write_bytes(bytes(data))
    outcomes: list[LayerBlob | None] = []
    for big in ("scan", "stream"):
        try:
            outcomes.append(layer_of(tmp_path / big, install_as([wheel], tmp_path / big, big)))
        except InstallError as refused:
            assert refused.where == wheel.name
            outcomes.append(None)
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0] is None) == (field == "name")
