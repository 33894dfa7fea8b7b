"""mlenv: reproducible GPU environments, locked for the target and built byte for byte."""

__version__ = "0.1.0"
