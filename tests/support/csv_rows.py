"""Rows of a sourced CSV fact file as frozen dataclass instances (one per row, columns by name)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def csv_rows(path: Path, make: Callable[..., T]) -> list[T]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [make(**row) for row in csv.DictReader(handle)]
