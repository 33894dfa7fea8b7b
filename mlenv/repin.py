"""resolvelib's Resolution made to pin again every name whose dependencies it forgot.

When a pin makes an earlier pin unsatisfying (``c 4`` needs ``b==1`` while ``b 3`` is pinned),
resolvelib drops the earlier pin's dependencies (``b 3``'s ``c==4``) from the criteria and
leaves it pinned, to be pinned again. But another pin may take the conflicting requirement
back (``c 2`` replaces ``c 4``): ``b 3`` then satisfies every requirement left, is never
pinned again, and its own dependencies are never restored. resolvelib 1.2 so returned ``b 3``
with ``c 2`` (or without any ``c``), a resolution that breaks ``b 3``'s ``c==4``: a lock whose
install fails, or imports a version its dependent refuses. Here a pin whose dependencies are
dropped is unpinned too: it is pinned again, its dependencies with it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from resolvelib.resolvers import Criterion, Resolution


class Repinning(Resolution[Any, Any, str]):
    """Resolution whose pins always carry their dependencies into the criteria."""

    def _remove_information_from_criteria(
        self, criteria: dict[str, Criterion[Any, Any]], parents: Collection[str]
    ) -> None:
        super()._remove_information_from_criteria(criteria, parents)
        if criteria is self.state.criteria:
            for name in parents:
                self.state.mapping.pop(name, None)
