"""Attack 193: a scheme-less credential `show --json` printed back, and a libcuda.so.1 link
loop that crashed the host probe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlenv.host_system import RealHost
from tests.support.cli import run_in_process

MANIFEST = """\
[environment]
name = "a193"
python = "3.11"
platforms = ["linux-64"]
glibc = "2.28"
prefix = "/opt/mlenv/a193"

[pypi]
index-url = "https://pypi.org/simple"
find-links = [{link}]
"""


@pytest.mark.parametrize(
    "link", ["user:s3cretpw@host/x", "https//user:s3cretpw@host/x", "__token__:s3cretpw@h/x"]
)
def test_show_json_hides_a_scheme_less_credential(tmp_path: Path, link: str) -> None:
    (tmp_path / "mlenv.toml").write_text(MANIFEST.format(link=json.dumps(link)))
    code, out, err = run_in_process(["show", "--json"], tmp_path)
    assert code == 0, err
    links = json.loads(out)["pypi"]["find-links"]
    assert "s3cretpw" not in out + err
    assert links[0].endswith("@host/x") or links[0].endswith("@h/x")


def test_a_library_link_loop_reads_as_absent(tmp_path: Path) -> None:
    loop = tmp_path / "libcuda.so.1"
    loop.symlink_to(loop.name)
    assert RealHost().resolve_link(str(loop)) is None
