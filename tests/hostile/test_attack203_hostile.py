"""Attack 203: three readings mlenv gave its inputs that their real consumers do not.

Found: a base image config whose Env holds ``FOO`` (no ``=``) was built on, and the image said
``FOO=``: Docker drops such an entry as an unset (``ReplaceOrAppendEnvValues``), containerd
hands it to runc, whose ``prepareEnv`` refuses to start the container ("missing '='"); nobody
reads an empty value. runc refuses ``=VALUE`` (an empty name) and a NUL too, and the kernel's
execve an entry past MAX_ARG_STRLEN. Such a base is refused (``oci.base_config.config_problem``)
with the entry's index and a hint; a duplicate name (the last wins, as in runc) and a newline
are held.

Found: a find-links directory spelled ``file:wh`` (no ``//``) was judged by ``init --from`` as
``./wh``, written into mlenv.toml as it was, and read there as a directory named ``file:wh``;
pip reads ``./wh`` from its working directory and uv ``/wh`` (the oracle below runs both). Such
a location is refused by the manifest's reader and by the import's trust check
(``bare_file.bare_file_url``), with a hint to write a path or a ``file:///`` URL.

Found: ``init --from pylock.toml`` dropped the hashes the file states without a word; mlenv.toml
has no place for expected hashes, so the import now says so in a note, worded as the
requirements import's note for ``--hash``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.errors import ManifestError
from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from mlenv.manifest_read import loads
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from mlenv.oci.write import ImageSpec, image_config
from tests.support.images import base_with
from tests.support.peers import clean_env, tool
from tests.support.wheels import build_wheel

# Linux's MAX_ARG_STRLEN less the NUL that ends the string execve copies
_LONGEST = 32 * 4096 - 1


def _env(*entries: str) -> Callable[[dict[str, object]], None]:
    def change(config: dict[str, object]) -> None:
        config["config"] = {"Env": ["PATH=/usr/bin", *entries]}

    return change


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ("FOO", "has no '='"),
        ("=VALUE", "an empty name"),
        ("A=b\0c", "NUL"),
        ("A\0B=c", "NUL"),
        ("L=" + "x" * (_LONGEST - 1), "longer than the 131071 bytes"),
    ],
    ids=["no-equals", "empty-name", "nul-in-value", "nul-in-name", "too-long"],
)
def test_a_base_env_entry_no_runtime_starts_is_refused(
    small_image: Path, tmp_path: Path, entry: str, fault: str
) -> None:
    """Before: read and built on (``FOO`` became ``FOO=``); now refused, naming the entry."""
    base = base_with(small_image, tmp_path, _env(entry))
    with pytest.raises(OciError) as refused:
        read_base(base, platform="linux-64")
    assert "config.Env[1]" in refused.value.message
    assert fault in refused.value.message
    assert refused.value.hint is not None
    assert "NAME=VALUE" in refused.value.hint


def test_env_entries_runc_takes_are_kept_as_runc_reads_them(
    small_image: Path, tmp_path: Path
) -> None:
    """Held: a newline in a name or value is kept byte for byte, an entry of exactly the
    longest length execve takes is kept, and of a name given twice the last wins (runc's
    ``prepareEnv`` keeps the last)."""
    longest = "L=" + "x" * (_LONGEST - 2)
    entries = ("A=x\ny", "B\nC=1", "D=1", "D=2", longest)
    base = read_base(base_with(small_image, tmp_path, _env(*entries)), platform="linux-64")
    spec = ImageSpec("x", "linux-64", "/opt/env", 0, "a" * 64)
    env = image_config(spec, [], base)["config"]["Env"]
    assert {"A=x\ny", "B\nC=1", "D=2", longest} <= set(env)
    assert "D=1" not in env


# --- find-links spelled file:x ----------------------------------------------------------------


def test_pip_and_uv_read_a_bare_file_url_as_different_directories(tmp_path: Path) -> None:
    """The oracle: pip reads ``file:NAME`` as ./NAME, uv as /NAME (which does not exist)."""
    name = f"wheels-{tmp_path.name}"
    (tmp_path / name).mkdir()
    wheel, data = build_wheel("a203pkg", "1.0")
    (tmp_path / name / wheel).write_bytes(data)
    (tmp_path / "req.in").write_text("a203pkg\n")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-index", "--no-deps", "--find-links",
         f"file:{name}", "a203pkg", "-d", "out", "-q"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    assert (tmp_path / "out" / wheel).is_file()
    uv = subprocess.run(
        [tool("uv"), "pip", "compile", "--no-index", "--no-cache", "--find-links",
         f"file:{name}", "req.in"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert uv.returncode != 0
    assert f"/{name}" in uv.stderr and str(tmp_path) not in uv.stderr


_BARE = ["file:wh", "FILE:wh", "file:./wh", "file:/srv/wh"]


def _manifest(key: str, value: str) -> str:
    table = (
        f'[pypi]\nfind-links = ["{value}"]\n'
        if key == "find-links"
        else f'[conda]\nchannels = ["{value}"]\ndependencies = ["numpy"]\n'
    )
    return f'[environment]\nname = "x"\npython = "3.11"\n{table}'


@pytest.mark.parametrize("key", ["find-links", "channels"])
@pytest.mark.parametrize("value", _BARE)
def test_the_manifest_refuses_a_bare_file_url(key: str, value: str) -> None:
    """Before: read as a directory named ``file:wh`` beside mlenv.toml."""
    with pytest.raises(ManifestError) as refused:
        loads(_manifest(key, value))
    [problem] = [p for p in refused.value.problems if "without '//'" in p.message]
    assert problem.where.endswith(f"{key}[0]")
    assert problem.hint is not None
    assert "file:///" in problem.hint


@pytest.mark.parametrize("value", ["wh", "./wh", "file:///srv/wh", "file://localhost/srv/wh"])
def test_the_manifest_keeps_a_path_or_a_file_url_with_slashes(value: str) -> None:
    assert loads(_manifest("find-links", value)).pypi.find_links == (value,)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("requirements.txt", "-f {link}\nnumpy\n"),
        ("requirements.txt", "--find-links={link}\nnumpy\n"),
        (
            "pyproject.toml",
            '[project]\nname = "p"\nversion = "1"\ndependencies = ["numpy"]\n'
            '[tool.uv]\nfind-links = ["{link}"]\n',
        ),
    ],
)
@pytest.mark.parametrize("link", ["file:wh", "file:./wh"])
def test_init_from_refuses_a_bare_file_url(tmp_path: Path, name: str, text: str, link: str) -> None:
    """Before: the trust check judged ./wh (yours, so passed) and the manifest got
    ``file:wh``, a directory no one meant; now refused with the spelling hint."""
    project = tmp_path / "proj"
    (project / "wh").mkdir(parents=True)
    (project / name).write_text(text.format(link=link))
    with pytest.raises(ImportFileError) as refused:
        import_file(project / name, project=project)
    [problem] = refused.value.problems
    assert "without '//'" in problem.message
    assert problem.hint is not None
    assert "file:///" in problem.hint


# --- pylock.toml hashes -----------------------------------------------------------------------


def _pylock(tmp_path: Path, *, sdist: bool) -> Path:
    text = 'lock-version = "1.0"\ncreated-by = "uv"\n'
    for name in ("numpy", "requests"):
        wheel = f"{name}-1.0-py3-none-any.whl"
        text += (
            f'[[packages]]\nname = "{name}"\nversion = "1.0"\n'
            'index = "https://pypi.org/simple"\n'
            f'[[packages.wheels]]\nname = "{wheel}"\n'
            f'url = "https://files.pythonhosted.org/packages/x/{wheel}"\n'
            f'hashes = {{sha256 = "{"0" * 64}"}}\n'
        )
        if sdist:
            text += (
                f'[packages.sdist]\nname = "{name}-1.0.tar.gz"\n'
                f'url = "https://files.pythonhosted.org/packages/x/{name}-1.0.tar.gz"\n'
                f'hashes = {{sha256 = "{"1" * 64}"}}\n'
            )
    path = tmp_path / "pylock.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("sdist", [False, True])
def test_a_pylock_import_says_its_hashes_are_not_kept(tmp_path: Path, sdist: bool) -> None:
    """Before: the pins were written and the hashes dropped without a word."""
    imported = import_file(_pylock(tmp_path, sdist=sdist))
    assert imported.pypi == ("numpy==1.0", "requests==1.0")
    [note] = [n for n in imported.notes if "hashes" in n]
    assert "pylock.toml states for 2 package(s) are not kept" in note
    assert "no place for expected hashes" in note
    assert "mlenv export --format pylock" in note


def test_a_requirements_import_says_the_same_of_its_hashes(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(f"numpy==1.0 --hash=sha256:{'0' * 64}\n")
    imported = import_file(tmp_path / "requirements.txt")
    [note] = [n for n in imported.notes if "hashes" in n]
    assert "--hash pins are kept as == pins, their hashes are not kept" in note
    assert "no place for expected hashes" in note
