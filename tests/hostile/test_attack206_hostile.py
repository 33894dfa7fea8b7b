"""Attack 206: today's changes on main, each pushed to fail open.

Found: ``errors.printable`` hid what ``redact`` knows and then cut, but a userinfo with no
scheme before it (``alice:<password>@proxy``) is hidden only by ``echoed.without_secrets``,
which the CLI applies to the message after the cut: a base image Env entry refused by
``config_problem`` (cut at 60 characters) showed the first 54 characters of its password,
whose '@' the cut had taken. ``printable`` now hides as the CLI does, then cuts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.echoed import shown
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from tests.support.images import base_with

_PASSWORD = "Pw" + "q7Zr" * 20  # 82 characters: its '@' falls past any cut of 60


def _env(*entries: str) -> Callable[[dict[str, object]], None]:
    def change(config: dict[str, object]) -> None:
        config["config"] = {"Env": ["PATH=/usr/bin", *entries]}

    return change


@pytest.mark.parametrize(
    "entry",
    [
        f"HTTP_PROXY=alice:{_PASSWORD}@proxy.corp:3128\0",  # a NUL
        f"alice:{_PASSWORD}@proxy.corp:3128",  # no '='
        f"=alice:{_PASSWORD}@proxy.corp:3128",  # an empty name
        f"P=alice:{_PASSWORD}@proxy.corp:3128 " + "x" * 131072,  # past MAX_ARG_STRLEN
    ],
    ids=["nul", "no-equals", "empty-name", "too-long"],
)
def test_a_refused_base_env_entry_shows_no_password(
    small_image: Path, tmp_path: Path, entry: str
) -> None:
    """Before: ``'HTTP_PROXY=alice:Pwq7Zrq7Zr...'``; now ``***@proxy.corp:3128``."""
    base = base_with(small_image, tmp_path, _env(entry))
    with pytest.raises(OciError) as refused:
        read_base(base, platform="linux-64")
    said = shown(f"{refused.value.message}\n{refused.value.hint}")
    assert "config.Env[1]" in said
    assert _PASSWORD[:12] not in said
    assert "alice" not in said
