"""The one spelling of a distribution name, PEP 508's ``NAME``: ASCII letters and digits, with
``.``, ``_`` and ``-`` only inside. ``re`` alone, so the light readers (the lock, the inputs of
a no-op ``lock``) take the same rule as the manifest, ``add`` and the requirement parser."""

from __future__ import annotations

import re

NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
PROJECT_NAME = re.compile(NAME)
