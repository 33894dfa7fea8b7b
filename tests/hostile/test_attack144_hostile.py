"""Attack 144: the last hour's merges (conda channels fetched by mlenv's own client, the image
asking the GA driver, machine-gated CPU fallbacks, closed stdout, grouped warnings)."""

from __future__ import annotations

import io
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from mlenv.conda.explain import solve_error
from mlenv.conda.mirror import Mirrored, _copy, _fetch
from mlenv.conda.records import CondaError
from mlenv.conda.worker import ChildFailure
from mlenv.index.http import HttpClient, HttpError
from mlenv.lockfile_render import render
from mlenv.net.exchange import DeadlineTransport
from tests.support.httpserver import IndexServer
from tests.support.locks import sample


def test_a_tenth_channel_copy_is_not_named_as_the_first_channel_plus_a_digit() -> None:
    """With eleven or more channels the private copies are ``…/1`` and ``…/10``: rattler's
    message naming the eleventh copy read ``https://h/one0/linux-64`` (the first channel's URL
    and the leftover digit), a channel nobody wrote. Each copy is named whole or not at all."""
    root = "file:///tmp/mlenv-channels-x"
    first = Mirrored(f"{root}/1", "https://h/one")
    eleventh = Mirrored(f"{root}/10", "https://h/ten")
    said = f"cannot read {root}/10/linux-64/repodata.json and /tmp/mlenv-channels-x/10/noarch"
    for copy in (first, eleventh):  # the order solve applies them in
        said = copy.shown(said)
    assert "one0" not in said
    assert said == "cannot read https://h/ten/linux-64/repodata.json and https://h/ten/noarch"


def test_a_channel_token_never_enters_rattlers_message() -> None:
    """A channel ``https://conda.anaconda.org/t/<token>/private`` keeps its token in the URL
    mlenv fetches; the message shown for rattler's error must name the channel without it."""
    copy = Mirrored("file:///tmp/mlenv-channels-y/0", "https://conda.anaconda.org/t/s3cr3t-tk/priv")
    said = copy.shown("no repodata in file:///tmp/mlenv-channels-y/0/linux-64")
    assert "s3cr3t-tk" not in said
    assert "https://conda.anaconda.org/priv/linux-64" in said


def test_a_multi_frame_repodata_zst_is_read_whole() -> None:
    """``pzstd`` and concatenated ``zstd`` output hold several frames, all of one stream as
    ``zstd -d`` reads it: only the first frame was copied, a truncated repodata.json."""
    whole = b'{"packages": {}, ' + b'"packages.conda": {}}'
    packer = zstandard.ZstdCompressor()
    packed = packer.compress(whole[:10]) + packer.compress(whole[10:])
    out = io.BytesIO()
    _copy(io.BytesIO(packed), out, "https://h/c/linux-64/repodata.json.zst", True)
    assert out.getvalue() == whole


@pytest.mark.parametrize("command", [["show"], ["inspect", "mlenv.lock"]])
def test_stdout_on_a_full_disk_is_said_as_such_not_as_an_internal_error(
    tmp_path: Path, command: list[str]
) -> None:
    """``mlenv show > /dev/full`` (stdout redirected to a full disk), and ``inspect`` whose
    rich console writes on its own: the write fails with ENOSPC, which is no closed reader, so
    it must not exit 0; it said "internal error: mlenv failed unexpectedly ... report it"
    (exit 2), a bug report for a full disk. It names stdout and the device's error, exit 1."""
    manifest = '[environment]\nname = "x"\npython = "3.11"\n[pypi]\ndependencies = []\n'
    (tmp_path / "mlenv.toml").write_text(manifest)
    (tmp_path / "mlenv.lock").write_text(render(sample(1)))
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "mlenv", *command],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr
    assert "cannot write to stdout" in done.stderr
    assert "No space left on device" in done.stderr


def test_an_idna_host_not_resolved_is_not_blamed_on_a_proxy() -> None:
    """``https://bücher.example/simple/`` with no proxy set: the resolver is asked for the
    IDNA name ``xn--bcher-kva.example``, which is not the URL's spelling, so the message said
    "the proxy host xn--bcher-kva.example could not be resolved" and sent the user to
    HTTPS_PROXY. It is the URL's own host, and is said so."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    client = HttpClient(transport=DeadlineTransport(resolve=resolve), retries=0)
    with client, pytest.raises(HttpError) as caught:
        client.get("https://bücher.example/simple/")
    assert asked == ["xn--bcher-kva.example"]
    said = str(caught.value)
    assert "proxy host" not in said and "check the proxy variable" not in said
    assert "the host bücher.example (xn--bcher-kva.example) could not be resolved" in said
    assert caught.value.hint is not None and "HTTPS_PROXY (or HTTP_PROXY)" in caught.value.hint


class _EndlessSkippable:
    """A repodata.json.zst body of zstd skippable frames without end: each decodes to no
    byte, as a hostile channel (or anyone on its plain-http path) may send."""

    FRAME = struct.pack("<II", 0x184D2A50, 1 << 16) + bytes(1 << 16)

    def __init__(self) -> None:
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        self.sent += len(self.FRAME)
        return self.FRAME


def test_a_zst_of_endless_skippable_frames_is_bounded_by_its_bytes_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bound counted decompressed bytes only: skippable frames decode to none, so an
    endless body of them was read for ever. The bytes read count too."""
    from mlenv.conda import mirror as mirror_module

    monkeypatch.setattr(mirror_module, "MAX_REPODATA_BYTES", 1 << 22)
    body = _EndlessSkippable()
    with pytest.raises(CondaError) as caught:
        _copy(body, io.BytesIO(), "https://h/c/linux-64/repodata.json.zst", True)  # type: ignore[arg-type]
    assert "larger than" in caught.value.message
    assert body.sent <= (1 << 22) + 2 * len(_EndlessSkippable.FRAME) + (1 << 20)


def test_a_full_disk_under_the_channel_copy_is_said_not_an_internal_error(tmp_path: Path) -> None:
    """The channel copy lives in the temporary directory (often a small tmpfs), and
    conda-forge's repodata is hundreds of MB: a full disk there raised a bare ENOSPC, which
    the CLI reports as "internal error ... report it". It names the copy's directory and what
    to free, as a full cache or dist/ does. (/dev/full stands for the full disk.)"""
    channel = tmp_path / "channel" / "linux-64"
    channel.mkdir(parents=True)
    whole = b'{"packages": {}}' + b" " * (1 << 21)
    (channel / "repodata.json").write_bytes(whole)
    (channel / "repodata.json.zst").write_bytes(zstandard.ZstdCompressor().compress(whole))
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "repodata.json").symlink_to("/dev/full")
    with (
        IndexServer(tmp_path / "channel") as server,
        HttpClient(retries=0) as http,
        pytest.raises(CondaError) as caught,
    ):
        _fetch(http, None, f"{server.url}/linux-64/repodata.json", copy, server.url)
    assert "No space left on device" in caught.value.message
    assert caught.value.where == str(copy)
    assert caught.value.hint is not None and "TMPDIR" in caught.value.hint


def test_a_solve_error_names_the_channels_without_their_credentials() -> None:
    """A spec no channel has: the message listed the channels searched as the manifest spells
    them, a password in the userinfo and an anaconda.org ``/t/<token>`` included, into the
    error every reporter, log and JSON event carries; only printing hid them."""
    failure = ChildFailure(
        "SolverError", "Cannot solve the request because of: No candidates were found for nosuch *."
    )
    channels = ["https://alice:hunter2@conda.example/c", "https://conda.anaconda.org/t/tk-123/priv"]
    error = solve_error(failure, channels, "linux-64", cuda=None, glibc="2.28")
    said = f"{error.message} {error.hint}"
    assert "hunter2" not in said and "tk-123" not in said
    assert "https://conda.example/c, https://conda.anaconda.org/priv (linux-64, noarch)" in said
