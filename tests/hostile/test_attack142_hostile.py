"""142nd adversary pass: conda repodata fetched during ``lock``. py-rattler's own HTTP client
followed a hostile channel's redirect to a service on this machine and read its answer as
repodata; mlenv now fetches every http(s) channel's repodata through its own client
(``mlenv.conda.mirror``) and hands rattler only private ``file://`` copies. Each test names
what it protects and fails if that enforcement is removed."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import zstandard

from mlenv.conda.mirror import Mirrored, judged
from mlenv.conda.records import CondaError
from mlenv.conda.solve import solve
from mlenv.net.origins import UnsafeUrlError
from mlenv.report import MemoryReporter
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.forward_proxy import ForwardProxy
from tests.support.httpserver import IndexServer
from tests.support.siteca import make_ca

pytestmark = pytest.mark.hostile

PACKAGES = [
    build_conda_package("tiny", "1.0", "h0_0", noarch="generic", files={"share/t.txt": b"t\n"}),
    build_conda_package("native", "2.0", "h1_0", files={"lib/n.txt": b"n\n"}),
]


def _lock(
    tmp_path: Path,
    channel: str,
    proxy: ForwardProxy,
    more: dict[str, str] | None = None,
    flags: tuple[str, ...] = (),
) -> tuple[int, str, Path]:
    """``mlenv lock`` of a manifest naming ``channel``, through ``proxy``."""
    project = tmp_path / "project"
    project.mkdir(parents=True)
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["tiny", "native"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "HTTP_PROXY": proxy.url}
    env |= {"http_proxy": proxy.url, "HTTPS_PROXY": proxy.url, "https_proxy": proxy.url}
    env |= {"NO_PROXY": "", "no_proxy": "", **(more or {})}
    done = run_mlenv(["lock", *flags], project, env)
    return done.returncode, done.stderr, project / "mlenv.lock"


def test_a_channel_redirecting_its_repodata_to_this_machine_is_refused(tmp_path: Path) -> None:
    """Protects invariant 3 for conda repodata: a remote channel (``pkgs.example``, reached
    through a proxy) redirects ``noarch/repodata.json`` to a loopback port standing in for a
    metadata service. rattler's client followed it, read that service's answer as repodata
    and locked from it; mlenv's client refuses the redirect and the service is never asked."""
    write_channel(tmp_path / "channel", PACKAGES)
    write_channel(tmp_path / "service", PACKAGES)
    with (
        IndexServer(tmp_path / "channel") as channel,
        IndexServer(tmp_path / "service") as service,
        ForwardProxy() as proxy,
    ):
        channel.redirect("/noarch/repodata.json", f"{service.url}/noarch/repodata.json")
        port = channel.url.rsplit(":", 1)[1]
        code, stderr, lock = _lock(tmp_path, f"http://pkgs.example:{port}", proxy)
        assert service.requests == [], service.requests
    assert code != 0 and "Traceback" not in stderr, stderr
    assert "points a remote source at this machine" in stderr, stderr
    assert not lock.exists()


def test_base_url_leading_to_this_machine_is_refused_at_the_solve(tmp_path: Path) -> None:
    """Protects the CEP-15 ``info.base_url`` of a remote channel: one naming a loopback
    service is judged by ``origins.follow`` when the solved record's url is mapped back
    (``conda.mirror.judged``), so no lock names it (the lock check refused it too)."""
    write_channel(tmp_path / "channel", PACKAGES)
    path = tmp_path / "channel" / "noarch" / "repodata.json"
    repodata = json.loads(path.read_text())
    with IndexServer(tmp_path / "channel") as channel, ForwardProxy() as proxy:
        repodata["info"]["base_url"] = "http://127.0.0.1:9/"
        repodata["repodata_version"] = 2
        path.write_text(json.dumps(repodata))
        port = channel.url.rsplit(":", 1)[1]
        code, stderr, lock = _lock(tmp_path, f"http://pkgs.example:{port}", proxy)
    assert code != 0 and "Traceback" not in stderr, stderr
    assert "info.base_url" in stderr and "this machine" in stderr, stderr
    assert not lock.exists()


def test_an_http_channel_locks_the_same_bytes_with_only_mlenvs_requests(tmp_path: Path) -> None:
    """Protects the lock of an http channel through the private copy: every record's channel
    and url are the manifest's channel, byte for byte as when rattler fetched it itself, and
    the channel saw only mlenv's repodata requests (``.zst`` first), through the proxy (rattler's
    client also asked for ``repodata_shards.msgpack.zst``, whose ``shards_base_url`` nothing
    judged)."""
    write_channel(tmp_path / "channel", PACKAGES)
    with IndexServer(tmp_path / "channel") as channel, ForwardProxy() as proxy:
        port = channel.url.rsplit(":", 1)[1]
        code, stderr, lock = _lock(tmp_path, f"http://pkgs.example:{port}/", proxy)
        asked = sorted(r.path for r in channel.requests)
        through = sorted(proxy.targets())
    assert code == 0, stderr
    mine = ["/linux-64/repodata.json", "/noarch/repodata.json"]
    assert asked == sorted([*mine, *(f"{p}.zst" for p in mine)]), asked
    assert through == [f"http://pkgs.example:{port}{p}" for p in asked], through
    text = lock.read_text()
    inputs = re.search(r'^inputs-hash = "(sha256:[0-9a-f]{64})"$', text, re.M)
    assert inputs is not None, text
    assert text == _expected(f"http://pkgs.example:{port}", inputs.group(1)), text


def _expected(channel: str, inputs: str) -> str:
    """The lock rattler's own fetch wrote for this manifest (checked before the change); the
    manifest spells the channel with a trailing slash, the records without."""
    entries = []
    for (filename, data), subdir, noarch in zip(
        PACKAGES, ("noarch", "linux-64"), ('noarch = "generic"\n', ""), strict=True
    ):
        name, version, build = filename.removesuffix(".tar.bz2").split("-")
        entries.append(
            f'[[platform.linux-64.conda]]\nname = "{name}"\nversion = "{version}"\n'
            f'build = "{build}"\nbuild-number = 0\nsubdir = "{subdir}"\n'
            f'channel = "{channel}"\nurl = "{channel}/{subdir}/{filename}"\n'
            f'filename = "{filename}"\nsha256 = "{hashlib.sha256(data).hexdigest()}"\n'
            f'md5 = "{hashlib.md5(data).hexdigest()}"\nsize = {len(data)}\n'
            f"depends = []\nconstrains = []\n{noarch}"
        )
    return (
        "# mlenv.lock: written by `mlenv lock` for the target in mlenv.toml. Do not edit.\n\n"
        f'version = 1\ninputs-hash = "{inputs}"\n\n[target]\npython = "3.11"\nglibc = "2.28"\n'
        'platforms = ["linux-64"]\nindex-strategy = "first-index"\n'
        'indexes = ["https://pypi.org/simple"]\nfind-links = []\nrequirements = []\n'
        f'conda-channels = ["{channel}/"]\nconda-requirements = ["tiny", "native"]\n\n'
        + "\n".join(sorted(entries, key=lambda e: e.split('name = "')[1]))
    )


@pytest.mark.parametrize("redirect", [False, True])
def test_an_https_channel_is_read_with_the_site_ca_and_never_downgraded(
    tmp_path: Path, redirect: bool
) -> None:
    """Protects the TLS settings and the no-downgrade rule for conda repodata: an https
    channel signed by a site CA (``MLENV_CA_BUNDLE``) is read by mlenv's client, which trusts
    it (rattler's did not know the setting), and its redirect of ``noarch/repodata.json`` to
    plain http (another port on the same name) is refused before that server is asked."""
    ca = make_ca(tmp_path / "ca", dns_names=("pkgs.example",))
    write_channel(tmp_path / "channel", PACKAGES)
    write_channel(tmp_path / "plain", PACKAGES)
    with (
        IndexServer(tmp_path / "channel", tls=ca) as channel,
        IndexServer(tmp_path / "plain") as plain,
        ForwardProxy() as proxy,
    ):
        port, plain_port = channel.url.rsplit(":", 1)[1], plain.url.rsplit(":", 1)[1]
        if redirect:
            where = f"http://pkgs.example:{plain_port}/noarch/repodata.json"
            channel.redirect("/noarch/repodata.json", where)
        code, stderr, lock = _lock(
            tmp_path, f"https://pkgs.example:{port}", proxy, {"MLENV_CA_BUNDLE": str(ca.ca)}
        )
        assert plain.requests == [], plain.requests
    assert "Traceback" not in stderr, stderr
    if redirect:
        assert code != 0 and "from https to plain http" in stderr, stderr
        assert not lock.exists()
    else:
        assert code == 0, stderr
        assert f'url = "https://pkgs.example:{port}/noarch/tiny-1.0-h0_0.tar.bz2"' in (
            lock.read_text()
        )


def test_a_zst_repodata_is_read_decompressed_and_a_broken_one_refused(tmp_path: Path) -> None:
    """Protects the ``.zst`` read of ``conda.mirror``: a channel publishing only
    ``linux-64/repodata.json.zst`` locks its linux-64 package from it (rattler reads the
    decompressed copy); a ``.zst`` that is no zstd frame is an error naming it, not a
    traceback and not a silent fallback to another answer."""
    channel_root = tmp_path / "channel"
    write_channel(channel_root, PACKAGES)
    plain = channel_root / "linux-64" / "repodata.json"
    packed = plain.with_name("repodata.json.zst")
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    plain.unlink()
    with IndexServer(channel_root) as channel, ForwardProxy() as proxy:
        port = channel.url.rsplit(":", 1)[1]
        code, stderr, lock = _lock(tmp_path / "good", f"http://pkgs.example:{port}", proxy)
        assert code == 0, stderr
        assert 'name = "native"' in lock.read_text()
        packed.write_bytes(b"not zstd at all")
        code, stderr, lock = _lock(tmp_path / "bad", f"http://pkgs.example:{port}", proxy)
    assert code != 0 and "Traceback" not in stderr, stderr
    assert "repodata.json.zst is not zstd" in stderr, stderr
    assert not lock.exists()


def test_lock_offline_never_asks_an_http_channel(tmp_path: Path) -> None:
    """Protects ``lock --offline`` ("never touch the network") for conda channels: rattler's
    client fetched an http channel's repodata even offline; mlenv's client refuses before any
    connection, naming the offline run."""
    write_channel(tmp_path / "channel", PACKAGES)
    with IndexServer(tmp_path / "channel") as channel, ForwardProxy() as proxy:
        port = channel.url.rsplit(":", 1)[1]
        code, stderr, lock = _lock(
            tmp_path, f"http://pkgs.example:{port}", proxy, flags=("--offline",)
        )
        assert channel.requests == [] and proxy.targets() == [], channel.requests
    assert code != 0 and "Traceback" not in stderr, stderr
    assert "offline" in stderr, stderr
    assert not lock.exists()


def test_a_channel_with_no_repodata_is_named_as_the_manifest_names_it(tmp_path: Path) -> None:
    """Protects the error of a channel that serves nothing: rattler's message names the
    private copy it read, which is mapped back to the channel URL (no temporary path)."""
    (tmp_path / "empty").mkdir()
    with IndexServer(tmp_path / "empty") as channel, ForwardProxy() as proxy:
        port = channel.url.rsplit(":", 1)[1]
        code, stderr, lock = _lock(tmp_path, f"http://pkgs.example:{port}/ch", proxy)
    assert code != 0 and "Traceback" not in stderr, stderr
    assert f"http://pkgs.example:{port}/ch/noarch/repodata.json" in stderr, stderr
    assert "mlenv-channels-" not in stderr and "file://" not in stderr, stderr
    assert not lock.exists()


def test_a_private_copy_maps_back_only_its_own_urls() -> None:
    """Protects ``Mirrored.back``: copy 1 never claims copy 10's records (a string prefix),
    and a url outside every copy (an absolute ``base_url``) is left for ``judged``."""
    one = Mirrored("file:///tmp/m/1", "https://one.example/ch")
    assert one.back("file:///tmp/m/1/") == "https://one.example/ch/"
    assert one.back("file:///tmp/m/1/noarch/a.conda") == "https://one.example/ch/noarch/a.conda"
    assert one.back("file:///tmp/m/10/noarch/a.conda") == "file:///tmp/m/10/noarch/a.conda"
    assert one.back("https://elsewhere.example/a.conda") == "https://elsewhere.example/a.conda"
    with pytest.raises(UnsafeUrlError):
        judged("file:///etc/passwd", "https://one.example/ch")
    with pytest.raises(UnsafeUrlError):
        judged("http://one.example/ch/noarch/a.conda", "https://one.example/ch")


def test_the_solve_never_hands_rattler_a_web_channel_without_mlenvs_client() -> None:
    """Protects the one place repodata is fetched: ``solve`` called without ``http`` (a
    caller that forgot it) refuses an http(s) channel, or a bare name (anaconda.org's), before
    the rattler child starts, rather than letting rattler's client fetch it."""
    for channel in ("https://conda.example/ch", "conda-forge", "HTTP://conda.example/ch"):
        with pytest.raises(CondaError, match="needs mlenv's HTTP client"):
            solve(
                [channel], ["tiny"], "linux-64", cuda=None, glibc="2.28", reporter=MemoryReporter()
            )
