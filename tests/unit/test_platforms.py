"""mlenv.platforms: every module that names a platform reads its row, so each ecosystem's name
for it agrees with the others."""

from __future__ import annotations

import pytest
from packaging.markers import Marker

from mlenv.conda.virtual import virtual_packages
from mlenv.errors import MlenvError
from mlenv.oci.write import ImageSpec, image_config
from mlenv.platforms import NAMES, PLATFORMS, Platform, by_name
from mlenv.target import Target


def test_names_are_unique_and_found() -> None:
    assert len(set(NAMES)) == len(PLATFORMS) == len({p.machine for p in PLATFORMS})
    assert all(by_name(p.name) is p for p in PLATFORMS)
    with pytest.raises(KeyError):
        by_name("win-64")


@pytest.mark.parametrize("platform", PLATFORMS, ids=NAMES)
def test_marker_holds_on_its_machine_only(platform: Platform) -> None:
    for other in PLATFORMS:
        environment = {"sys_platform": "linux", "platform_machine": other.machine}
        assert Marker(platform.marker).evaluate(environment) is (other is platform)


@pytest.mark.parametrize("platform", PLATFORMS, ids=NAMES)
def test_target_tags_and_markers_use_the_machine(platform: Platform) -> None:
    target = Target(platform.name, "3.11", "2.28")
    assert target.machine == platform.machine
    assert any(tag.platform == f"manylinux_2_28_{platform.machine}" for tag in target.tags)
    assert Marker(platform.marker).evaluate(target.markers)


@pytest.mark.parametrize("platform", PLATFORMS, ids=NAMES)
def test_conda_archspec_is_the_baseline(platform: Platform) -> None:
    found = {p.name: p for p in virtual_packages(platform.name, cuda=None, glibc="2.28")}
    assert found["__archspec"].build == platform.archspec


def test_an_unknown_platform_is_refused_by_name() -> None:
    with pytest.raises(MlenvError, match="linux-64, linux-aarch64"):
        virtual_packages("linux-ppc64le", cuda=None, glibc="2.28")


@pytest.mark.parametrize("platform", PLATFORMS, ids=NAMES)
def test_image_config_names_the_oci_architecture(platform: Platform) -> None:
    spec = ImageSpec(name="x", platform=platform.name, prefix="/opt/x", created=0, lock_sha256="l")
    config = image_config(spec, [], None)
    assert (config["os"], config["architecture"]) == ("linux", platform.oci_architecture)
