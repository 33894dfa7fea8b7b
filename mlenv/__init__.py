"""mlenv: reproducible GPU environments, locked for the target and built byte for byte."""

__version__ = "0.1.0"


def data_text(name: str) -> str:
    """The text of a table shipped in ``mlenv/data``, read beside this module: a lock reads
    two, and ``importlib.resources`` (with ``tempfile`` and ``zipfile`` behind it) would cost
    it more than both reads. mlenv is installed as files, never run from a zip."""
    with open(f"{__file__.rpartition('/')[0]}/data/{name}", encoding="utf-8") as handle:
        return handle.read()
