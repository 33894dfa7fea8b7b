"""Every wheel of the local mirrors installed by mlenv and by pip, the trees compared
(``tests.support.pip_trees``): prints what differs and the counts.

    python bench/pip_trees.py [--max-mb 300] [--batch 25] [--work /tmp/pip-trees] WHEEL_OR_DIR...

Wheels go in batches of distinct distributions (one pip run each: pip's start dominates); a
batch either installer refuses, or whose trees differ, is compared again wheel by wheel, so
every count is per wheel. Wheels over ``--max-mb`` are skipped (each is unpacked twice); pip
refuses a wheel whose tags this interpreter does not take, which is counted apart.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packaging.utils import parse_wheel_filename

from tests.support.pip_trees import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--max-mb", type=float, default=300)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pip-trees"))
    options = parser.parse_args()
    wheels = sorted(
        {w for p in options.paths for w in ([p] if p.is_file() else p.rglob("*.whl"))},
        key=lambda w: w.name,
    )
    counts: collections.Counter[str] = collections.Counter()
    small = [w for w in wheels if w.stat().st_size <= options.max_mb * 1e6]
    counts["skipped (size)"] = len(wheels) - len(small)
    for batch in _batches(small, options.batch):
        result = compare(batch, options.work / "one")
        if not (result.pip_error or result.mlenv_error or result.differences):
            counts["identical"] += len(batch)
            print(f"{len(batch)} identical, {result.files} files: {result.wheels}", flush=True)
            continue
        for wheel in batch:
            _one(wheel, options.work / "one", counts)
    print(f"{len(wheels)} wheels:", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


def _one(wheel: Path, work: Path, counts: collections.Counter[str]) -> None:
    result = compare([wheel], work)
    if result.pip_error:
        kind = "pip refused" + (" (tags)" if "not a supported wheel" in result.pip_error else "")
        counts[kind] += 1
        print(f"{wheel.name}: {kind}: {result.pip_error}", flush=True)
    elif result.mlenv_error:
        counts["mlenv refused"] += 1
        print(f"{wheel.name}: mlenv refused: {result.mlenv_error}", flush=True)
    elif result.differences:
        counts["different"] += 1
        for difference in result.differences:
            print(f"{wheel.name}: {difference}", flush=True)
    else:
        counts["identical"] += 1
        print(f"{wheel.name}: identical, {result.files} files", flush=True)


def _batches(wheels: list[Path], size: int) -> Iterator[list[Path]]:
    """Runs of at most ``size`` wheels, no two of one distribution."""
    batch: list[Path] = []
    names: set[str] = set()
    for wheel in wheels:
        name = parse_wheel_filename(wheel.name)[0]
        if len(batch) == size or name in names:
            yield batch
            batch, names = [], set()
        batch.append(wheel)
        names.add(name)
    if batch:
        yield batch


if __name__ == "__main__":
    main()
