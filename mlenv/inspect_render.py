"""`mlenv inspect`'s tables on a terminal: layers, packages and the largest files of an
``inspect.Inspection``, with bars; text from the image shown as text, never as markup."""

from __future__ import annotations

import re
from typing import Any, Literal

from mlenv.errors import terminal_text
from mlenv.inspect import Inspection
from mlenv.report import human_bytes

BAR = 24  # characters of the longest bar
_SITE_PACKAGES = re.compile(r"^.*/site-packages/")


def render(inspection: Inspection, console: Any, top: int = 20) -> None:
    """Tables with bars on a rich console: layers, packages, the largest files, totals. Every
    text from the image goes in as ``Text``, never markup: a history entry or a package name
    of ``[link=...]`` or ``[/x]`` can neither emit a terminal hyperlink nor crash the table;
    control characters show as ``?`` (``errors.terminal_text``)."""
    from rich.table import Table
    from rich.text import Text

    def bar(value: int | None, largest: int) -> Text:
        width = 0 if not value or not largest else max(1, round(BAR * value / largest))
        return Text("█" * width, style="cyan")

    lock = inspection.kind == "lock"
    measure = "download" if lock else "installed"
    total = inspection.compressed or 0 if lock else inspection.installed
    share = f"{100 * inspection.cuda / total:.0f}%" if total else "0%"
    sizes = [f"{human_bytes(inspection.installed)} installed"]
    if inspection.compressed is not None:
        sizes.insert(
            0, f"{human_bytes(inspection.compressed)} {'download' if lock else 'compressed'}"
        )
    console.print(
        _plain(
            f"{inspection.subject} ({inspection.platform}): {', '.join(sizes)}; "
            f"CUDA libraries {human_bytes(inspection.cuda)} ({share})"
        )
    )
    if inspection.layers:
        table = Table("layer", "created by", "compressed", "installed", "files", "", box=None)
        peak = max(layer.installed for layer in inspection.layers)
        for layer in inspection.layers:
            table.add_row(
                str(layer.index), _plain(_short(layer.created_by)), human_bytes(layer.compressed),
                human_bytes(layer.installed), str(layer.files), bar(layer.installed, peak),
            )  # fmt: skip
        console.print(table)
    shown = inspection.packages[:top]
    if shown:
        columns = ["package", "version", *(["download"] if lock else []), "installed", ""]
        table = Table(*columns, box=None)
        peak = max((getattr(p, measure) or 0) for p in shown)
        for p in shown:
            name = p.name + (" (CUDA)" if p.cuda_library else "")
            sizes = [_size(p.download)] if lock else []
            table.add_row(
                _plain(name), _plain(p.version), *sizes, _size(p.installed),
                bar(getattr(p, measure), peak),
            )  # fmt: skip
        console.print(table)
        if len(inspection.packages) > top:
            console.print(f"… and {len(inspection.packages) - top} smaller package(s)")
    if inspection.largest:
        table = Table("largest files", "size", "package", box=None)
        for f in inspection.largest:
            path = _SITE_PACKAGES.sub("…/site-packages/", f.path)
            table.add_row(
                _plain(path, overflow="fold"), human_bytes(f.size), _plain(f.package or "")
            )
        console.print(table)


def _plain(text: str, overflow: Literal["fold"] | None = None) -> Any:
    """Text from the image for a rich console: literal, never markup, nothing that drives the
    terminal."""
    from rich.text import Text

    return Text(terminal_text(text), overflow=overflow)


def _short(created_by: str) -> str:
    """mlenv's layers are "mlenv build: NAME: WHAT"; a base image's command is cut short."""
    return created_by.rsplit(": ", 1)[-1] if created_by.startswith("mlenv build") else (
        created_by[:32]
    )  # fmt: skip


def _size(value: int | None) -> str:
    return "" if value is None else human_bytes(value)
