"""Seventh adversary pass: the build's overlapped stages (handoff threads, the layer cache's
background copy, the tidy thread), the sixth pass's security checks in other shapes, and the
local lock's path checks. Each test names the invariant it attacks and fails if the enforcing
function stops holding it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.errors import MlenvError
from mlenv.origins import LocalRoots, follow
from tests.support.cli import run_mlenv


@pytest.mark.parametrize("escape", ["%00", "%0a", "%1b", "%7f"])
def test_file_url_escaping_a_control_character_is_refused(tmp_path: Path, escape: str) -> None:
    """origins.follow: a local page's link decoding to a NUL made realpath raise ValueError,
    an internal error of lock instead of a refusal naming the link."""
    with pytest.raises(MlenvError, match="control character"):
        follow(
            f"../../evil-1.0-py3-none-any.whl{escape}",
            base=f"{tmp_path.as_uri()}/simple/evil/",
            where="page",
            local=LocalRoots((tmp_path,)),
        )


def test_local_index_page_linking_a_nul_is_refused_by_lock(tmp_path: Path) -> None:
    """End to end: a file:// index whose page links ``…whl%00`` fails lock with exit 1 and the
    refusal, never a traceback or 'internal error'."""
    page = tmp_path / "idx" / "simple" / "evil"
    page.mkdir(parents=True)
    (page / "index.html").write_text('<a href="../../evil-1.0-py3-none-any.whl%00">evil</a>\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "n"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{(tmp_path / "idx" / "simple").as_uri()}"\n'
        'dependencies = ["evil"]\n'
    )
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stderr
    assert "control character" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
