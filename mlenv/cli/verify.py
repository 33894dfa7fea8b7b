"""The ``verify`` command: which check the flags ask for (a driver, this host, a cluster's
nodes, a bundle, the cache), and the report of its verdict as text or JSON (exit 1 when it
fails, 3 when it cannot judge). The checks themselves are ``commands.verify``'s."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlenv import lockfile
from mlenv.cli.output import echo, print_json
from mlenv.commands.session import Session
from mlenv.errors import CannotJudgeError, MlenvError, UsageError, VerdictError
from mlenv.manifest import Manifest
from mlenv.userfiles import read_input

if TYPE_CHECKING:
    from mlenv.host import HostFacts
    from mlenv.host_libs import Unjudged


@click.command()
@click.argument("output", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--driver", metavar="VERSION", help="Judge this NVIDIA driver (e.g. 535.104.05).")
@click.option(
    "--host", is_flag=True, help="Judge this machine's driver and GPUs (the check on a GPU node)."
)
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Check a bundle completely: every missing, extra or corrupted file.",
)
@click.option(
    "--cache", "check_cache", is_flag=True, help="Re-hash the lock's artifacts in the cache."
)
@click.option(
    "--nodes",
    "nodes_file",
    metavar="FILE",
    help="Judge every GPU node of `kubectl get nodes -o json` (a file, or - for stdin) from "
    "its NVIDIA GPU Feature Discovery labels.",
)
@click.option(
    "--selector",
    "-l",
    default="",
    help="With --nodes: only nodes matching this Kubernetes label selector "
    "(key=value, key!=value, key in (a,b), key notin (a,b), key, !key; commas AND).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option(
    "--offline", is_flag=True, help="Accepted for symmetry: verify never uses the network."
)
@click.pass_obj
def verify(
    session: Session,
    output: Path | None,
    driver: str | None,
    host: bool,
    bundle: Path | None,
    check_cache: bool,
    nodes_file: str | None,
    selector: str,
    as_json: bool,
    offline: bool,
) -> None:
    """Check the lock before deploy: fresh against the manifest, every artifact hashed, and the
    CUDA rules for the manifest's driver floor, a given --driver, this --host, or every node of
    a cluster (--nodes). With OUTPUT (dist/image.tar, the conda-pack archive, or the OCI layout
    dist/oci, every blob hashed), also its digest against the build.json beside it, and that
    build against this lock.

    Exit 0 when everything holds (warnings allowed), 1 when something fails, 3 when it cannot
    judge (no NVIDIA driver found with --host, no node with GPU labels among --nodes).
    """
    from mlenv.commands import verify as use
    from mlenv.host_libs import NO_DRIVER

    if sum((driver is not None, host, nodes_file is not None)) > 1:
        raise UsageError("--driver, --host and --nodes exclude each other", hint="pass one of them")
    if selector and nodes_file is None:
        raise UsageError("--selector chooses among --nodes", hint="pass --nodes FILE as well")
    if bundle is not None:
        given = {
            "OUTPUT": output is not None,
            "--driver": driver is not None,
            "--host": host,
            "--cache": check_cache,
            "--nodes": nodes_file is not None,
            "--json": as_json,
        }
        others = [name for name, named in given.items() if named]
        if others:  # judged by none of them: a pass would vouch for what was never checked
            raise UsageError(
                f"--bundle judges the bundle alone, not {', '.join(others)}",
                hint="run `mlenv verify --bundle DIR` and the other check as two commands",
            )
        _verify_bundle(bundle)
        return
    manifest = session.load_manifest()
    lock_ = session.load_lock()
    if check_cache:
        count = use.verify_cache(session, lock_)
        session.reporter.info(f"cache: {count} artifact(s) present, every sha256 checked")
    if nodes_file is not None:
        _verify_nodes(session, manifest, lock_, nodes_file, selector, output, as_json)
        return
    judged = None
    if driver is not None:
        judged = use.by_driver(driver)
    elif host:
        judged, facts = use.by_host()
        if judged is None:
            for probe in facts.probes:
                session.reporter.info(f"  {probe.source}: {probe.detail}")
            why = facts.unjudged or NO_DRIVER
            kind = MlenvError if why.fails else CannotJudgeError
            problem = kind(why.message, hint=why.hint)
            if as_json:
                print_json(_cannot_judge_json(why, facts))
                problem.shown = True
            raise problem
    verdict = use.verify(manifest, lock_, session.lock_path, judged, output)
    if as_json:
        print_json(
            {
                "ok": verdict.ok,
                "judged": None
                if verdict.judged is None
                else {
                    "driver": verdict.judged.driver,
                    "source": verdict.judged.source,
                    "archs": list(verdict.judged.archs),
                },
                "requires-driver": verdict.requires_driver,
                "findings": [
                    {
                        "severity": f.severity,
                        "code": f.code,
                        "package": f.package,
                        "needs": f.needs,
                        "promised": f.promised,
                        "message": f.message,
                        "hint": f.hint,
                    }
                    for f in verdict.findings
                ],
            }
        )
    else:
        _print_verdict(verdict, lock_, session.lock_path)
    if not verdict.ok:
        raise VerdictError("verification failed")


def _cannot_judge_json(why: Unjudged, facts: HostFacts) -> dict[str, Any]:
    """``--json`` output when no driver is judged: a script reads why (exit 3; exit 1, ``ok``
    false, where a probe saw that CUDA cannot start), and which probes were tried."""
    return {
        "ok": False if why.fails else None,
        "cannot-judge": why.message,
        "hint": why.hint,
        "judged": None,
        "requires-driver": None,
        "findings": [],
        "probes": [{"source": p.source, "ok": p.ok, "detail": p.detail} for p in facts.probes],
    }


def _verify_nodes(
    session: Session,
    manifest: Manifest,
    lock_: lockfile.Lock,
    nodes_file: str,
    selector: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Each selected node judged on its own; exit 1 if any fails, 3 if none could be judged."""
    import dataclasses

    from mlenv.commands.verify import verify_nodes
    from mlenv.limits import MAX_NODE_LIST
    from mlenv.nodes import exit_status, report_json, report_lines
    from mlenv.subjects import NODE_LIST, expect

    if nodes_file == "-":
        text, where = sys.stdin.read(MAX_NODE_LIST + 1), "<stdin>"
    else:
        try:  # a FIFO or a device named here never blocks (userfiles.read_input)
            expect(Path(nodes_file), NODE_LIST, "a node list (`kubectl get nodes -o json`)",
                   "verify --nodes")  # fmt: skip
            data = read_input(Path(nodes_file), "node list", limit=MAX_NODE_LIST)
        except FileNotFoundError:
            raise UsageError(
                "no such node list", where=nodes_file, hint="save `kubectl get nodes -o json`"
            ) from None
        text, where = data.decode("utf-8", "replace"), nodes_file
    judged = verify_nodes(manifest, lock_, session.lock_path, text, where, selector, output)
    verdicts, needed, built = judged.verdicts, judged.needed, judged.built
    if as_json:
        print_json(
            {
                **report_json(verdicts, needed),
                "output-findings": [dataclasses.asdict(f) for f in built.findings],
            }
        )
    else:
        for finding in built.findings:
            echo(f"ERROR   {finding.code}: {finding.message}")
            echo(f"        hint: {finding.hint}")
        for line in report_lines(verdicts, judged.nodes, needed):
            echo(line)
    status = exit_status(verdicts)
    if status == "fail" or not built.ok:
        raise VerdictError("a node cannot run the lock")
    if status == "cannot-judge":
        problem = CannotJudgeError("no selected node could be judged")
        problem.shown = True
        raise problem


def _verify_bundle(bundle: Path) -> None:
    from mlenv.cache.lock_artifacts import artifacts_of
    from mlenv.commands.verify import verify_bundle

    verdict = verify_bundle(bundle)
    for problem in verdict.problems:
        echo(f"{problem.kind.upper():18} {problem.path}: {problem.detail}")
    if verdict.problems:
        echo(f"FAIL: {len(verdict.problems)} problem(s) in bundle {bundle}")
        failed = VerdictError(
            "the bundle is not what it lists", where=str(bundle), hint=verdict.hint()
        )
        failed.shown = False  # the report is on stdout; the fix goes to stderr
        raise failed
    # the conda archives too: a conda-only bundle is not empty
    count = len(artifacts_of(verdict.lock))
    echo(f"OK: bundle {bundle} is complete ({count} artifact(s), every sha256 checked; "
          f"mlenv.lock sha256 {verdict.lock_sha256})")  # fmt: skip


def _print_verdict(verdict: Any, lock_: lockfile.Lock, path: Path) -> None:
    target = lock_.target
    against = (
        f"driver {verdict.judged.driver} ({verdict.judged.source})"
        if verdict.judged
        else f"the driver floor {target.driver_floor}"
        if target.driver_floor
        else "no driver floor"
    )
    cuda = f"CUDA {target.cuda}" if target.cuda else "no CUDA target"
    pypi, conda = len(lock_.packages()), len(lock_.conda_packages())
    counted = f"{pypi + conda} packages" + (f" ({pypi} PyPI, {conda} conda)" if conda else "")
    echo(f"{path}: {counted}, {cuda}, judged against {against}")
    if verdict.requires_driver:
        echo(f"the environment needs driver {verdict.requires_driver} or newer")
    from mlenv.entry_needs import recorded_only

    if trusted := recorded_only(lock_):  # said, not passed in silence: no index is asked
        echo(f"CUDA taken as recorded (`mlenv lock` read it from METADATA, which verify "
              f"asks no index for; `mlenv lock --upgrade-package NAME` reads it again): "
              f"{'; '.join(trusted)}")  # fmt: skip
    from mlenv.cuda.grouping import grouped

    for finding in grouped(verdict.findings):  # one line per driver a later CUDA update needs
        about_output = verdict.output is not None and finding.code.startswith("output-")
        subject = finding.package or (verdict.output if about_output else "[target]")
        echo(f"{finding.severity.upper():7} {finding.code:22} {subject}: {finding.message}")
        echo(f"        hint: {finding.hint}")
    if verdict.output and not any(f.code.startswith("output-") for f in verdict.findings):
        # said, or a user who named dist/image.tar cannot tell it was looked at
        echo(f"{verdict.output}: matches its build.json, and that build matches {path}")
    errors = len(verdict.errors)
    warnings = len(verdict.findings) - errors
    status = "FAIL" if errors else "OK"
    echo(f"{status}: {errors} error(s), {warnings} warning(s)")
