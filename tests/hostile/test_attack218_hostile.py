"""Attack 218: a prefixed token split by a tab or line break.

A URL reader drops a tab, CR or LF anywhere in a URL (``redaction_userinfo.GLUE``), so
``https://h.example/x/ghp_Zq8vKp3mWx\\n7TnR...`` still carries the whole GitHub token in its
path. Before, ``KNOWN_TOKEN`` read a token's body as one unbroken run, so ``redact``,
``without_secrets`` and ``printable`` showed every character of it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlenv.echoed import without_secrets
from mlenv.errors import printable
from mlenv.redaction import redact

_BODY = "Zq8vKp3mWx7TnR2bYc6LaB4dE5fG6hJ7kM8n"
_HIDERS: list[Callable[[str], str]] = [redact, without_secrets, printable]


def _shows_a_piece(shown: str) -> bool:
    """Any 8 characters of the token's body in ``shown``."""
    return any(_BODY[i : i + 8] in shown for i in range(len(_BODY) - 7))


@pytest.mark.parametrize(
    "prefix", ["ghp_", "hf_", "npm_", "glpat-", "github_pat_", "pypi-AgEIcHlwaS5vcmc", "xoxb-1234-"]
)
@pytest.mark.parametrize("control", ["\n", "\t", "\r\n"])
@pytest.mark.parametrize("around", ["https://h.example/x/{}/y", "{}"])
def test_a_prefixed_token_split_by_a_break_is_hidden_whole(
    prefix: str, control: str, around: str
) -> None:
    """Before: ``https://h.example/x/ghp_Zq8vKp3mWx\\n7TnR2bYc6L.../y`` shown as it was."""
    text = around.format(f"{prefix}{_BODY[:10]}{control}{_BODY[10:]}")
    for hide in _HIDERS:
        assert not _shows_a_piece(hide(text)), (hide.__name__, text)


@pytest.mark.parametrize(
    "text",
    [
        "pip install hf_transfer\nDownloading numpy",
        "hf_transfer\nnpm_config\n",
        "https://files.example/hf_HubIntegrationToolsForAzureMLStudio-1.0-py3-none-any.whl",
    ],
)
def test_a_project_name_before_a_break_stays(text: str) -> None:
    """A module name (``hf_transfer``) at a line's end is no token with the next line."""
    assert redact(text) == text
