"""Whether a secret is hidden by every place that shows text: the one redactor, a record's
``without_secrets``, an error's ``shown`` and a remote party's ``printable``."""

from __future__ import annotations

from collections.abc import Callable

from mlenv.echoed import shown, without_secrets
from mlenv.errors import printable
from mlenv.redaction import redact

HIDERS: list[Callable[[str], str]] = [redact, without_secrets, shown, printable]
BODY = "Zq8vKp3mWx7TnR2bYc6LaB4dE5fG6hJ7kM8n"  # a known token's body: mixed case, digits
SECRET = "S3cretPw9xQ7zrLong"
# A body of each shape ``redaction_tokens.KNOWN_TOKEN`` hides, by prefix.
KNOWN_TOKENS = {
    "ghp_": BODY,
    "gho_": BODY,
    "github_pat_": "11ABCDEFG0" + BODY,
    "glpat-": "xY9zAbC3dEf7GhIj1KlM",
    "hf_": BODY,
    "npm_": BODY,
    "pypi-": "AgEIcHlwaS5vcmcCJDk0ZjE2YmQ3LTRhYzItNDJiNi05",
    "xoxb-": "1234-5678-aB3dE6gH9jK2mN5pQ8sT1vW4",
}


def shows(secret: str, text: str) -> list[str]:
    """The 8-character slices of ``secret`` that ``text`` shows."""
    return [secret[at : at + 8] for at in range(len(secret) - 7) if secret[at : at + 8] in text]


def assert_hidden(secret: str, text: str) -> None:
    """No 8 characters of ``secret`` in ``text`` as any of ``HIDERS`` shows it."""
    for hide in HIDERS:
        assert shows(secret, hide(text)) == [], (hide.__name__, text, hide(text))
