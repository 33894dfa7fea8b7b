"""Reporters: algorithms talk to them, the user sees bars, lines or JSON."""

from __future__ import annotations

import io
import json

from mlenv.report import HumanReporter, JsonReporter, MemoryReporter, QuietReporter


def test_memory_reporter_records_events_in_order() -> None:
    reporter = MemoryReporter()
    reporter.info("hello")
    with reporter.task("download", total=3, unit="files") as task:
        task.advance(2)
        task.advance()
    reporter.warning("careful")
    assert reporter.events == [
        ("info", "hello"),
        ("task-start", "download"),
        ("task-end", "download: 3 files"),
        ("warning", "careful"),
    ]
    assert reporter.messages("warning") == ["careful"]


def test_json_reporter_writes_one_object_per_line() -> None:
    stream = io.StringIO()
    reporter = JsonReporter(stream)
    with reporter.task("hash", total=10, unit="bytes") as task:
        task.advance(10)
    reporter.warning("w")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert events == [
        {"event": "task-start", "task": "hash", "total": 10, "unit": "bytes"},
        {"event": "task-end", "task": "hash", "done": 10, "unit": "bytes"},
        {"event": "warning", "message": "w"},
    ]


def test_human_reporter_degrades_to_plain_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    reporter = HumanReporter(stream, terminal=False)
    with reporter.task("fetch", total=2048, unit="bytes") as task:
        task.advance(2048)
    with reporter.task("resolve") as task:
        task.advance(5)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("fetch: 2.0 KiB in ")
    assert lines[1].startswith("resolve: 5 items in ")
    assert "\x1b" not in stream.getvalue()


def test_human_reporter_draws_a_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    reporter = HumanReporter(stream, terminal=True)
    with reporter.task("fetch", total=4, unit="files") as task:
        task.advance(4)
    reporter.info("after")
    text = stream.getvalue()
    assert "\x1b" in text  # a live rich bar was drawn
    assert text.endswith("fetch: done\nafter\n")


def test_quiet_reporter_shows_only_warnings() -> None:
    stream = io.StringIO()
    reporter = QuietReporter(stream)
    reporter.info("hidden")
    with reporter.task("t", total=1) as task:
        task.advance()
    reporter.warning("shown")
    assert stream.getvalue() == "warning: shown\n"


def test_debug_lines_appear_only_with_verbose() -> None:
    """Protects `-v`: debug detail is shown when asked and costs nothing otherwise."""
    for verbose, expected in ((0, ""), (1, "debug: pinned x 1.0\n")):
        stream = io.StringIO()
        HumanReporter(stream, terminal=False, verbose=verbose).debug("pinned x 1.0")
        assert stream.getvalue() == expected
    stream = io.StringIO()
    JsonReporter(stream, verbose=1).debug("pinned x 1.0")
    assert json.loads(stream.getvalue()) == {"event": "debug", "message": "pinned x 1.0"}
    stream = io.StringIO()
    JsonReporter(stream).debug("pinned x 1.0")
    QuietReporter(stream).debug("pinned x 1.0")
    assert stream.getvalue() == ""
