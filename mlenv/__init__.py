"""mlenv: reproducible GPU environments, locked for the target and built byte for byte."""

import os

__version__ = "0.1.0"

# the tables mlenv ships, beside its modules: mlenv is installed as files, never run from a zip
DATA_DIR = os.path.join(os.path.dirname(__file__), "data")


def data_text(name: str) -> str:
    """The text of a table in ``DATA_DIR``, read directly: a lock reads two, and
    ``importlib.resources`` (with ``tempfile`` and ``zipfile`` behind it) would cost it more
    than both reads."""
    with open(os.path.join(DATA_DIR, name), encoding="utf-8") as handle:
        return handle.read()
