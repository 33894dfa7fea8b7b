"""Resolve PyPI requirements for a target with resolvelib, over any ``Index``.

Nothing here does IO of its own or prints: the index is an interface (a fake in tests), progress
goes to a Reporter, and a failure becomes a ``ResolutionError`` whose text explains the conflict
as a tree of who asked for what. ``resolve`` is the entry point; each module owns one concept.
"""
