"""Fake wheels and file:// simple indexes built in code, so tests state their world in one place.

Wheels are valid (METADATA, WHEEL, RECORD with correct hashes) and byte-deterministic: the same
arguments always give the same bytes, hence the same sha256 across runs and machines.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json as jsonlib
import re
import stat
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from io import BytesIO
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def metadata_text(
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    provides_extra: Iterable[str] = (),
    extra_metadata: Iterable[str] = (),
) -> str:
    lines = ["Metadata-Version: 2.3", f"Name: {name}", f"Version: {version}", *extra_metadata]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {extra}" for extra in provides_extra]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires_dist]
    return "\n".join(lines) + "\n\n"


def build_wheel(
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    provides_extra: Iterable[str] = (),
    tag: str = "py3-none-any",
    files: Mapping[str, bytes] | None = None,
    entry_points: str | None = None,
    extra_metadata: Iterable[str] = (),
) -> tuple[str, bytes]:
    """A wheel's filename and bytes; ``tag`` may be compound (``py2.py3-none-any``)."""
    dist = re.sub(r"[-_.]+", "_", canonicalize_name(name))
    version = str(Version(version))
    dist_info = f"{dist}-{version}.dist-info"
    members: dict[str, bytes] = dict(sorted((files or {}).items()))
    members[f"{dist_info}/METADATA"] = metadata_text(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
        extra_metadata=extra_metadata,
    ).encode()
    pure = "true" if tag.split("-")[-1] == "any" else "false"
    wheel_tags = "".join(f"Tag: {t}\n" for t in _expand(tag))
    members[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: mlenv-tests\nRoot-Is-Purelib: {pure}\n{wheel_tags}"
    ).encode()
    if entry_points is not None:
        members[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members.items())
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()

    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return f"{dist}-{version}-{tag}.whl", buffer.getvalue()


def _expand(tag: str) -> list[str]:
    """``py2.py3-none-any`` names two tags; WHEEL lists each one."""
    interpreters, abis, platforms = tag.split("-")
    return [
        f"{i}-{a}-{p}"
        for i in interpreters.split(".")
        for a in abis.split(".")
        for p in platforms.split(".")
    ]


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return parse_wheel_filename(filename)[0]
    return parse_sdist_filename(filename)[0]


def _wheel_metadata(data: bytes) -> bytes | None:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        for member in archive.namelist():
            if member.count("/") == 1 and member.endswith(".dist-info/METADATA"):
                return archive.read(member)
    return None


def write_simple_index(
    root: Path,
    wheels: Iterable[tuple[str, bytes]],
    *,
    metadata_files: bool = True,
    json: bool = False,
    omit_hashes: bool = False,
    yanked: Mapping[str, str] | None = None,
    upload_times: Mapping[str, object] | None = None,
) -> str:
    """Write a PEP 503 (or, with ``json``, PEP 691) index under ``root``; return its file:// URL.

    Files go to ``root/files/``, project pages to ``root/simple/<project>/index.html`` (or
    ``index.json``). Requires-Python is published from each wheel's METADATA, as PyPI does.
    ``yanked`` maps filenames to a reason ("" for none); ``upload_times`` to the JSON value of
    PEP 700's ``upload-time`` (HTML pages carry none). Sdists may be included by filename.
    """
    files_dir = root / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[dict[str, object]]] = defaultdict(list)
    for filename, data in wheels:
        (files_dir / filename).write_bytes(data)
        entry: dict[str, object] = {
            "filename": filename,
            "url": f"../../files/{filename}",
            "hashes": {} if omit_hashes else {"sha256": hashlib.sha256(data).hexdigest()},
            "size": len(data),
        }
        metadata = _wheel_metadata(data) if filename.endswith(".whl") else None
        if metadata is not None:
            requires = re.search(rb"^Requires-Python: (.+)$", metadata, re.MULTILINE)
            if requires:
                entry["requires-python"] = requires.group(1).decode().strip()
            if metadata_files:
                (files_dir / f"{filename}.metadata").write_bytes(metadata)
                entry["core-metadata"] = {"sha256": hashlib.sha256(metadata).hexdigest()}
        if yanked is not None and filename in yanked:
            entry["yanked"] = yanked[filename] or True
        if upload_times is not None and filename in upload_times:
            entry["upload-time"] = upload_times[filename]
        projects[_project_of(filename)].append(entry)

    simple = root / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    for project, entries in sorted(projects.items()):
        page_dir = simple / project
        page_dir.mkdir(exist_ok=True)
        if json:
            document = {"meta": {"api-version": "1.1"}, "name": project, "files": entries}
            (page_dir / "index.json").write_text(jsonlib.dumps(document, indent=1))
        else:
            (page_dir / "index.html").write_text(_html_page(project, entries))
    anchors = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{anchors}</body></html>\n")
    return simple.as_uri()


def _html_page(project: str, entries: list[dict[str, object]]) -> str:
    anchors = []
    for entry in entries:
        href = str(entry["url"])
        hashes = entry["hashes"]
        if isinstance(hashes, dict) and "sha256" in hashes:
            href += f"#sha256={hashes['sha256']}"
        attributes = f'href="{html.escape(href)}"'
        if "requires-python" in entry:
            attributes += f' data-requires-python="{html.escape(str(entry["requires-python"]))}"'
        metadata = entry.get("core-metadata")
        if isinstance(metadata, dict):
            attributes += f' data-core-metadata="sha256={metadata["sha256"]}"'
        if "yanked" in entry:
            reason = entry["yanked"]
            attributes += (
                f' data-yanked="{html.escape(reason)}"'
                if isinstance(reason, str)
                else " data-yanked"
            )
        anchors.append(f"<a {attributes}>{html.escape(str(entry['filename']))}</a><br/>\n")
    head = f"<!DOCTYPE html>\n<html><head><title>Links for {project}</title></head><body>\n"
    return head + "".join(anchors) + "</body></html>\n"


def requirement_for_extra(requirement: str, extra: str) -> str:
    """``requirement`` as a Requires-Dist line that applies only with ``extra``."""
    parsed = Requirement(requirement)
    condition = f'extra == "{extra}"'
    if parsed.marker is not None:
        condition = f"({parsed.marker}) and {condition}"
    parsed.marker = None
    return f"{parsed}; {condition}"


def mark_executable(data: bytes, member: str) -> bytes:
    """The wheel ``data`` with ``member``'s zip mode a regular 0755 file (what installers
    read as "make it executable"); every other member as it was."""
    rewritten = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as source, zipfile.ZipFile(rewritten, "w") as out:
        for info in source.infolist():
            if info.filename == member:
                info.external_attr = (stat.S_IFREG | 0o755) << 16
            out.writestr(info, source.read(info))
    return rewritten.getvalue()
