"""Which wheel of one release mlenv's resolver and pip pick for a target, over the same
file:// simple index of tiny wheels named exactly as real releases name theirs.

pip reads only the filename for its choice with ``--no-deps`` (the metadata file beside each
wheel answers the rest), so a page of stub wheels stands for a real release page.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from mlenv.errors import MlenvError
from mlenv.index import HttpClient, SimpleIndex
from mlenv.report import MemoryReporter
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.wheels import build_wheel


def write_pages(root: Path, pages: Mapping[str, Sequence[str]]) -> str:
    """A PEP 503 index under ``root`` with one page per project listing ``pages[project]``
    (filenames of any project: a page may list another project's wheel); return its URL."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    simple = root / "simple"
    for project, filenames in pages.items():
        anchors = []
        for filename in filenames:
            name, version, _build, _tags = parse_wheel_filename(filename)
            data = build_wheel(name, str(version))[1]
            metadata = _metadata_of(name, str(version))
            (files / filename).write_bytes(data)
            (files / f"{filename}.metadata").write_bytes(metadata)
            href = f"../../files/{filename}#sha256={hashlib.sha256(data).hexdigest()}"
            meta = hashlib.sha256(metadata).hexdigest()
            anchors.append(
                f'<a href="{html.escape(href)}" data-core-metadata="sha256={meta}">'
                f"{html.escape(filename)}</a><br/>\n"
            )
        page = simple / canonicalize_name(project)
        page.mkdir(parents=True, exist_ok=True)
        (page / "index.html").write_text(
            "<!DOCTYPE html>\n<html><body>\n" + "".join(anchors) + "</body></html>\n"
        )
    return simple.as_uri()


def _metadata_of(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()


def mlenv_choice(url: str, requirement: str, target: Target) -> str | None:
    """The filename mlenv locks for ``requirement`` on ``target``; None when it locks none."""
    index = SimpleIndex(url, http=HttpClient(offline=True))
    try:
        resolution = resolve(
            [Requirement(requirement)], target, index, reporter=MemoryReporter(), workers=0
        )
    except MlenvError:
        return None
    (pin,) = resolution.pins
    assert pin.file is not None
    return pin.file.filename


def pip_platforms(target: Target) -> list[str]:
    """The ``--platform`` values describing the target to pip: its manylinux tags from the
    glibc floor down (pip 26 expands only the legacy manylinux2014/2010 names itself), then
    plain ``linux_<arch>``, last, as pip lists a Linux host's own platforms."""
    return [*target.platform_tags(), f"linux_{target.machine}"]


def pip_command(url: str, requirements: Iterable[str], target: Target, report: Path) -> list[str]:
    major, minor = target.python_tuple
    platforms = [arg for p in pip_platforms(target) for arg in ("--platform", p)]
    return [
        sys.executable, "-m", "pip", "install", "--no-deps", "--only-binary=:all:",
        "--ignore-installed",
        *platforms, "--python-version", f"{major}.{minor}", "--implementation", "cp",
        "--abi", f"cp{major}{minor}", "--dry-run", "--quiet", "--report", str(report),
        "--index-url", url, *requirements,
    ]  # fmt: skip


def pip_choices(
    url: str, requirements: Sequence[str], target: Target, scratch: Path
) -> dict[str, str | None]:
    """pip's filename for each requirement (None: pip finds no installable file); one pip run
    for them all, again without each requirement pip reports it cannot find."""
    left = list(requirements)
    answer: dict[str, str | None] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    report = scratch / "report.json"
    while left:
        done = subprocess.run(
            pip_command(url, left, target, report),
            capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
        if done.returncode == 0:
            for item in json.loads(report.read_text())["install"]:
                filename = unquote(item["download_info"]["url"].rsplit("/", 1)[1])
                name = canonicalize_name(item["metadata"]["name"])
                (requirement,) = [r for r in left if canonicalize_name(Requirement(r).name) == name]
                answer[requirement] = filename
            return answer
        missing = re.search(r"No matching distribution found for (\S+)", done.stderr)
        if missing is None or missing.group(1) not in left:
            raise AssertionError(f"pip failed: {done.stderr[-2000:]}")
        answer[missing.group(1)] = None
        left.remove(missing.group(1))
    return answer
