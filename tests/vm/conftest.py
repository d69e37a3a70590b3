"""Shared fixtures for tests against real libvirt, QEMU, the Debian kernel and the driver.

Nothing here skips: a machine that cannot boot VMs fails these tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.config import Home, Limits
from rig.fleet.instance import Instance
from rig.fleet.libvirt_backend import LibvirtBackend
from rig.fleet.owner import me
from rig.host import accel as accelmod
from rig.image.build import REPO, Image, ImageRequest, build

pytestmark = pytest.mark.vm


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """RIG_TEST_HOME keeps the kernel and image caches between local runs."""
    root = os.environ.get("RIG_TEST_HOME")
    return Home(Path(root) if root else tmp_path_factory.mktemp("righome")).ensure()


@pytest.fixture(scope="session")
def driver_dir() -> Path:
    return Path(os.environ.get("RIG_TEST_DRIVER", REPO / "driver"))


@pytest.fixture(scope="session")
def accel() -> str:
    return accelmod.current(Path("/nonexistent")).accel


@pytest.fixture(scope="session")
def backend() -> Iterator[LibvirtBackend]:
    b = LibvirtBackend()
    yield b
    mine = [d.name for d in b.domains() if d.owner and d.owner.pid == os.getpid() and d.active]
    b.close()
    assert not mine, f"tests left domains behind: {mine}"


@pytest.fixture(scope="session")
def image_for(home: Home, driver_dir: Path, accel: str) -> Callable[[str], Image]:
    cache: dict[str, Image] = {}

    def get(params: str = "") -> Image:
        if params not in cache:
            cache[params] = build(home, ImageRequest(driver=driver_dir, params=params, accel=accel))
        return cache[params]

    return get


@pytest.fixture
def boot(
    home: Home, backend: LibvirtBackend, accel: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Instance]]:
    """Boot one instance of an image; destroyed at the end of the test whatever happens."""
    made: list[Instance] = []

    def start(image: Image, limits: Limits | None = None) -> Instance:
        campaign = f"test-{request.node.name[:20]}"
        inst = Instance(
            backend,
            image,
            home.campaign(campaign) / "boots",
            me(campaign),
            limits or Limits(),
            accel,
        )
        made.append(inst)
        inst.boot()
        return inst

    yield start
    for inst in made:
        inst.destroy()
