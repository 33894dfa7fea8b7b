"""Attack 212: the places, secrets and no-GPU readings added since bee65f7.

Found and fixed: ``bare_file.bare_file_url``'s refusal of a ``file:`` URL without ``//``
showed the location as spelt. A tab or a line break in it (a TOML ``\\t``/``\\n``) split the
word ``echoed.without_secrets`` reads a bare userinfo from, so ``file:alice:<password>\\t@proxy``
showed the password in the manifest's error (its quoted value was hidden, the message not) and
in ``init --from pylock.toml``'s, where a line break also began a line of its own choosing.
So did ``channel_paths.misread``'s (``./x\\alice:<password>\\t@y`` holds a backslash,
``C:/a/../`` names ``..``) in mlenv.toml and in ``init --from environment.yml``, whose problem
also named the channel as spelt. Control characters are now shown escaped in all of them, as
``places.not_yours`` shows them.

Found and fixed: ``errors.printable`` hid secrets before turning control characters into
``?``, so a tab split ``alice:<password>\\t@proxy`` for ``without_secrets`` too, and the cut
at 60 then took the '@' the CLI would have found: a base image Env entry refused for its empty
name or a NUL showed 50 characters of its password. Control characters now become ``?`` first.

Held: every other new message (``channel_paths.misread`` of ``//user:pw@srv``, ``places``'
``file://user:pw@srv``, the percent- and U+FF1A-spelt colons); ``places`` judging ``%2e%2e``,
``.%2E``, ``#`` and ``;`` in find-links and channel URLs as the lock reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.echoed import shown
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from tests.support.cli import run_mlenv
from tests.support.images import base_with

pytestmark = pytest.mark.hostile

_PASSWORD = "S3cret" + "Pw9x" * 6
_WHEEL = "numpy-2.1.0-py3-none-any.whl"


def _pylock(url: str) -> str:
    """A pylock.toml (TOML basic strings: ``url`` may hold an escape) of one wheel at ``url``."""
    return (
        'lock-version = "1.0"\ncreated-by = "uv"\n[[packages]]\nname = "numpy"\n'
        f'version = "2.1.0"\n[[packages.wheels]]\nname = "{_WHEEL}"\nurl = "{url}/{_WHEEL}"\n'
        f'hashes = {{sha256 = "{"0" * 64}"}}\n'
    )


def _manifest(link: str) -> str:
    return (
        '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n[pypi]\n'
        f'find-links = ["{link}"]\ndependencies = ["numpy"]\n'
    )


@pytest.mark.parametrize("escape", ["\\t", "\\n"])
def test_a_bare_file_wheel_url_shows_no_password(tmp_path: Path, escape: str) -> None:
    """Before: ``file:alice:S3cretPw9x...\\t@proxy/w/numpy-...whl is a file: URL without
    '//'``, the password whole; with ``\\n``, a line ``@proxy/w/...`` of the file's making."""
    (tmp_path / "pylock.toml").write_text(_pylock(f"file:alice:{_PASSWORD}{escape}@proxy/w"))
    done = run_mlenv(["init", "--from", "pylock.toml"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "is a file: URL without '//'" in done.stderr
    assert _PASSWORD[:8] not in done.stderr
    assert not any(line.startswith("@proxy") for line in done.stderr.splitlines())
    assert not (tmp_path / "mlenv.toml").exists()


def test_a_bare_file_find_links_in_the_manifest_shows_no_password(tmp_path: Path) -> None:
    """Before: ``'***@proxy/w' is not valid: file:alice:S3cretPw9x...\\t@proxy/w is a file:
    URL without '//'``: the value hidden, the message beside it not."""
    (tmp_path / "mlenv.toml").write_text(_manifest(f"file:alice:{_PASSWORD}\\t@proxy/w"))
    done = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 1, done.stderr
    assert "is a file: URL without '//'" in done.stderr
    assert _PASSWORD[:8] not in done.stderr


_CHANNELS = [f"./x\\\\alice:{_PASSWORD}\\t@y", f"C:/a/../alice:{_PASSWORD}\\t@y"]


def _channel_manifest(channel: str) -> str:
    return (
        '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n[pypi]\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["libgomp"]\n'
    )


@pytest.mark.parametrize("channel", _CHANNELS)
def test_a_misread_channel_shows_no_password(tmp_path: Path, channel: str) -> None:
    """Before: ``'./***@y' is not valid: the channel ./x\\alice:S3cretPw9x...\\t@y holds a
    backslash``: ``channel_paths.misread`` quoted the channel with its tab."""
    (tmp_path / "mlenv.toml").write_text(_channel_manifest(channel))
    done = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 1, done.stderr
    assert "the channel" in done.stderr
    assert _PASSWORD[:8] not in done.stderr


@pytest.mark.parametrize("channel", _CHANNELS)
def test_init_from_a_misread_channel_shows_no_password(tmp_path: Path, channel: str) -> None:
    """The import's judge (``places.problems``) shows the same refusal."""
    (tmp_path / "environment.yml").write_text(
        f'channels:\n  - "{channel}"\ndependencies:\n  - libgomp\n'
    )
    done = run_mlenv(["init", "--from", "environment.yml"], tmp_path)
    assert done.returncode == 1, done.stderr
    assert "the channel" in done.stderr
    assert _PASSWORD[:8] not in done.stderr
    assert not (tmp_path / "mlenv.toml").exists()


_LONG_PASSWORD = "Pw" + "q7Zr" * 20  # its '@' falls past printable's cut of 60


@pytest.mark.parametrize(
    "entry",
    [f"=alice:{_LONG_PASSWORD}\t@proxy.corp:3128", f"P=alice:{_LONG_PASSWORD}\t@proxy:3128\0"],
    ids=["empty-name", "nul"],
)
def test_a_refused_env_entry_with_a_tab_shows_no_password(
    small_image: Path, tmp_path: Path, entry: str
) -> None:
    """Before: ``config.Env[1] '=alice:Pwq7Zrq7Zr...'``, as attack 206 without its tab."""

    def change(config: dict[str, object]) -> None:
        config["config"] = {"Env": ["PATH=/usr/bin", entry]}

    with pytest.raises(OciError) as refused:
        read_base(base_with(small_image, tmp_path, change), platform="linux-64")
    said = shown(f"{refused.value.message}\n{refused.value.hint}")
    assert "config.Env[1]" in said
    assert _LONG_PASSWORD[:12] not in said
    assert "alice" not in said
