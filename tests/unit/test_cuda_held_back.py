"""A lock that walks back past newer releases of a GPU package whose CUDA mlenv cannot read
says so (``mlenv.cuda.held_back``): bitsandbytes 0.51.0 came after the last wheels mlenv read,
so 0.50.2 is locked, and the warning names 0.51.0 and how to take it."""

from __future__ import annotations

from tests.support.gpu_locks import lock, versions


def test_the_walk_back_past_an_unread_release_is_said() -> None:
    locked, warned = lock('"bitsandbytes", "torch"')
    assert versions(locked) == {"bitsandbytes": "0.50.2", "torch": "2.9.0+cu128"}
    assert "bitsandbytes 0.50.2 is locked (linux-64), not the newer 0.51.0: " in warned
    assert "mlenv cannot tell which CUDA bitsandbytes 0.51.0 needs" in warned
    assert 'add "bitsandbytes" to [cuda] unverified' in warned


def test_one_warning_names_every_platform_it_held_back() -> None:
    _, warned = lock('"bitsandbytes", "torch"', platforms='"linux-64", "linux-aarch64"')
    assert warned.count("not the newer 0.51.0") == 1
    assert "is locked (linux-64, linux-aarch64)" in warned


def test_unverified_takes_the_newest_and_says_nothing_of_a_walk_back() -> None:
    locked, warned = lock('"bitsandbytes", "torch"', unverified='"bitsandbytes"')
    assert versions(locked)["bitsandbytes"] == "0.51.0"
    assert "not the newer" not in warned


def test_a_release_the_requirements_leave_out_is_never_named() -> None:
    locked, warned = lock('"bitsandbytes<0.51", "torch"')
    assert versions(locked)["bitsandbytes"] == "0.50.2"
    assert "not the newer" not in warned


def test_a_newer_build_the_fleet_cannot_run_is_no_walk_back_to_report() -> None:
    """torch 2.10.0+cu130 is refused for a CUDA 12.8 fleet: that is the target at work."""
    locked, warned = lock('"torch"')
    assert versions(locked) == {"torch": "2.9.0+cu128"}
    assert "not the newer" not in warned
