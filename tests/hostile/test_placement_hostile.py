"""The prefix and the interpreter make sense: judged when the manifest is read, so ``lock``
and ``show`` refuse them before any work (``mlenv.placement.judge_placement``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_mlenv

pytestmark = pytest.mark.hostile


@pytest.mark.parametrize("command", [["lock"], ["show"], ["show", "--json"]])
@pytest.mark.parametrize(
    ("environment", "key", "word"),
    [
        ('prefix = "/opt/mlenv/../../usr//"', "prefix", "(that is '/usr') is a system directory"),
        ('prefix = "/"', "prefix", "root directory"),
        ('prefix = "/tmp/env"', "prefix", "mounted or emptied"),
        ('prefix = "/opt/env\\n/etc"', "prefix", "the control character U+000A"),
        ('prefix = "env"', "prefix", "not an absolute path"),
        ('prefix = "/opt/x"\ninterpreter = "/opt/x/bin/python"', "interpreter",
         "inside the prefix"),
        ('interpreter = "python3.11"', "interpreter", "not an absolute path"),
        ('prefix = "/opt/.wh.mlenv/torch"', "prefix", "is an OCI whiteout name"),
    ],
)  # fmt: skip
def test_a_senseless_prefix_or_interpreter_is_refused_before_any_work(
    tmp_path: Path, command: list[str], environment: str, key: str, word: str
) -> None:
    """End to end: exit 1 naming the key path with a hint, no traceback, nothing written."""
    (tmp_path / "mlenv.toml").write_text(
        f'[environment]\nname = "p"\npython = "3.11"\n{environment}\n'
        '[pypi]\nindex-url = "http://127.0.0.1:9/simple"\ndependencies = ["anything"]\n'
    )
    done = run_mlenv(command, tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"mlenv.toml: [environment].{key}" in done.stderr and word in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlenv.toml"]
