"""mlenv.placement.judge_placement: the prefix and the interpreter, judged with the manifest."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.errors import ManifestError
from mlenv.manifest_read import loads
from mlenv.placement import judge_placement, normalise

SYSTEM = [
    "/", "/usr", "/usr/local", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc",
    "/var", "/boot", "/dev", "/proc", "/sys", "/run", "/tmp", "/root", "/home", "/opt", "/srv",
    "/mnt", "/media", "/usr/lib", "/usr/bin", "/usr/share", "/usr/lib64", "/usr/local/bin",
    "/usr/local/lib", "/var/lib", "/var/cache", "/var/log", "/home/alice",
]  # fmt: skip
INSIDE = [
    "/usr/lib/x", "/usr/x", "/usr/share/env", "/usr/local/lib/env", "/etc/env", "/bin/env",
    "/lib64/env", "/boot/env", "/tmp/env", "/var/tmp/env", "/run/env", "/proc/self",
    "/sys/env", "/dev/shm/env", "/var/run/env",
]  # fmt: skip
FINE = [
    "/opt/mlenv/x", "/opt/x", "/srv/x", "/usr/local/x", "/usr/local/mlenv/x", "/var/lib/x",
    "/home/alice/envs/x", "/root/x", "/app", "/workspace/env", "/opt/mlenv/x-1.2_b+c@d",
]  # fmt: skip
ODD_SPELLINGS = ["{}/", "{}//", "/{}", "/.{}", "{}/.", "/opt/..{}", "/opt/mlenv/../..{}"]


@pytest.mark.parametrize("prefix", SYSTEM + INSIDE)
def test_system_directories_and_what_is_inside_them_are_refused(prefix: str) -> None:
    """Protects the base image and the host: the environment's bin/, lib/, lib64 and
    pyvenv.cfg never land on a system tree or a run-time mount."""
    problems = judge_placement(prefix, None, "3.11").problems
    assert [p.key for p in problems] == ["prefix"]
    words = ("system", "mounted", "root directory", "home directory")
    assert any(word in problems[0].message for word in words)


@pytest.mark.parametrize("prefix", FINE)
def test_a_directory_of_its_own_is_fine(prefix: str) -> None:
    """The rule refuses system trees, not every path below them."""
    assert judge_placement(prefix, None, "3.11").problems == ()


@pytest.mark.parametrize("spelling", ODD_SPELLINGS)
@pytest.mark.parametrize("system", ["/usr", "/etc", "/lib64", "/tmp", "/usr/local/bin"])
def test_odd_spellings_of_a_system_directory_are_normalised_then_refused(
    spelling: str, system: str
) -> None:
    """Protects the rule from //, ., .. and trailing slashes: judged on the normal form."""
    prefix = spelling.format(system)
    placement = judge_placement(prefix, None, "3.11")
    assert placement.prefix == system
    assert [p.key for p in placement.problems] == ["prefix"]


@pytest.mark.parametrize(
    ("prefix", "word"),
    [
        ("opt/env", "not an absolute path"),
        ("./opt/env", "not an absolute path"),
        ("/opt/my env", "no spaces"),
        ("/opt/env\n/usr", "control characters"),
        ("/opt/e\tnv", "control characters"),
        ("/opt/a:b", "':'"),
        ("/opt/$HOME", "ASCII"),
        ("/opt/'x'", "quotes"),
        ("/\u043ept/env", "ASCII"),  # Cyrillic o
        ("/opt/\uff45nv", "ASCII"),  # fullwidth e
        ("/opt/" + "x" * 260, "255 bytes"),
    ],
)
def test_relative_and_hostile_names_are_refused(prefix: str, word: str) -> None:
    """Protects shebangs, PATH, activate and conda-unpack from what the prefix would inject."""
    problems = judge_placement(prefix, None, "3.11").problems
    assert len(problems) == 1 and word in problems[0].message


@pytest.mark.parametrize(
    ("interpreter", "word"),
    [
        ("/opt/mlenv/x/bin/python", "inside the prefix"),
        ("/opt/mlenv/x/bin/python3.11", "inside the prefix"),
        ("/opt/mlenv/x/../x/bin/python3", "inside the prefix"),
        ("/opt/mlenv//x/bin/python", "inside the prefix"),
        ("python3.11", "not an absolute path"),
        ("bin/python", "not an absolute path"),
        ("/usr/bin/python3.12", "Python 3.12"),
        ("/usr/bin/env", "not a Python interpreter"),
        ("/proc/self/exe", "not a Python interpreter"),
        ("/tmp/python3", "mounted"),
        ("/usr/bin/python 3", "no spaces"),
    ],
)
def test_an_interpreter_that_cannot_be_the_venvs_python_is_refused(
    interpreter: str, word: str
) -> None:
    """Protects bin/python from linking to itself, into the environment, or to no Python."""
    problems = judge_placement("/opt/mlenv/x", interpreter, "3.11").problems
    assert [p.key for p in problems] == ["interpreter"] and word in problems[0].message


@pytest.mark.parametrize(
    "interpreter", ["/usr/bin/python3.11", "/usr/bin/python3", "/opt/conda/bin/python"]
)
def test_the_base_images_python_is_fine(interpreter: str) -> None:
    """Base images name their Python like this."""
    assert judge_placement("/opt/mlenv/x", interpreter, "3.11").problems == ()


def test_the_manifest_reports_both_with_key_paths_hints_and_the_normal_form() -> None:
    """Refused when the manifest is read, with the other problems, not after a build."""
    text = (
        '[environment]\nname = "x"\npython = "3.11"\nprefix = "/opt/../usr/"\n'
        'interpreter = "/usr/bin/python3.11"\nglibc = "1.0"\n'
    )
    with pytest.raises(ManifestError) as caught:
        loads(text, source="m.toml")
    wheres = [p.where for p in caught.value.problems]
    assert wheres == [
        "m.toml: [environment].glibc",
        "m.toml: [environment].prefix",
        "m.toml: [environment].interpreter",  # /usr/bin is inside /usr
    ]
    prefix = caught.value.problems[1]
    assert "'/opt/../usr/' (that is '/usr') is a system directory" in prefix.message
    assert prefix.hint is not None and "/opt/mlenv/NAME" in prefix.hint
    with pytest.raises(ManifestError) as caught:
        loads(
            '[environment]\nname = "x"\npython = "3.11"\ninterpreter = "/opt/mlenv/x/bin/python"\n'
        )
    assert [p.where for p in caught.value.problems] == ["mlenv.toml: [environment].interpreter"]


def test_the_manifest_keeps_the_normal_form() -> None:
    """What mlenv writes into shebangs and pyvenv.cfg is the normal form, never '//'."""
    manifest = loads(
        '[environment]\nname = "x"\npython = "3.11"\nprefix = "//opt/./mlenv//x/"\n'
        'interpreter = "/usr/bin/../bin/python3.11"\n'
    )
    assert manifest.environment.prefix == "/opt/mlenv/x"
    assert manifest.environment.interpreter == "/usr/bin/python3.11"


# ---------------------------------------------------------------------------------------------
# Hypothesis

_PIECES = st.sampled_from(["", ".", "..", "opt", "usr", "mlenv", "x", "local", "lib", "tmp"])
_SPELLED = st.lists(st.tuples(_PIECES, st.sampled_from(["/", "//", "/./"])), max_size=8).map(
    lambda parts: "/" + "".join(piece + sep for piece, sep in parts)
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(SYSTEM + INSIDE), _SPELLED)
def test_any_spelling_that_normalises_to_a_system_path_is_refused(system: str, detour: str) -> None:
    """A detour of any depth through .., . and // ends where it ends: that is judged."""
    climbs = "/".join([".."] * (detour.count("/") + 1))
    prefix = f"{detour}/{climbs}{system}"
    assert normalise(prefix) == system
    assert judge_placement(prefix, None, "3.11").problems


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_whatever_is_accepted_is_a_clean_path_of_its_own(prefix: str, interpreter: str) -> None:
    """Anything accepted is absolute, normalised, printable ASCII, outside every system tree,
    and the interpreter outside it."""
    placement = judge_placement(prefix, interpreter, "3.11")
    keys = {p.key for p in placement.problems}
    if "prefix" not in keys:
        path = placement.prefix
        assert path.startswith("/") and posixpath.normpath(path) == path
        assert path.isascii() and path.isprintable() and " " not in path and ":" not in path
        assert path not in SYSTEM
        assert not any(path.startswith(f"{root}/") for root in INSIDE)
        assert not path.startswith(("/usr/", "/tmp/", "/etc/", "/proc/")) or (
            path.startswith("/usr/local/")
        )
    if not keys:
        assert placement.interpreter is not None
        assert not placement.interpreter.startswith(f"{placement.prefix}/")
