"""Shared fixtures for tests against real libvirt, QEMU, the Debian kernel and the driver.

Nothing here skips: a machine that cannot boot VMs fails these tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.config import Home, Limits
from rig.context import RunContext
from rig.fleet.backend import Backend
from rig.fleet.instance import Instance
from rig.guest.surface import default_config
from rig.image.build import REPO, Image
from rig.session import Session
from rig.vmhost import VmHost

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
def ctx(home: Home) -> RunContext:
    """The context every VM test runs under, built once as the CLI builds it."""
    return RunContext.create(home, uri=os.environ.get("RIG_LIBVIRT_URI"))


@pytest.fixture(scope="session")
def accel(ctx: RunContext) -> str:
    return ctx.accel


@pytest.fixture(scope="session")
def host(ctx: RunContext) -> Iterator[VmHost]:
    h = ctx.open()
    yield h
    mine = [
        d.name for d in h.backend.domains() if d.owner and d.owner.pid == os.getpid() and d.active
    ]
    h.close()
    assert not mine, f"tests left domains behind: {mine}"


@pytest.fixture(scope="session")
def backend(host: VmHost) -> Backend:
    return host.backend


@pytest.fixture(scope="session")
def image_for(ctx: RunContext, driver_dir: Path) -> Callable[[str], Image]:
    cache: dict[str, Image] = {}

    def get(params: str = "") -> Image:
        if params not in cache:
            cache[params] = ctx.build_image(driver_dir, params=params)
        return cache[params]

    return get


@pytest.fixture
def boot(host: VmHost, request: pytest.FixtureRequest) -> Iterator[Callable[..., Instance]]:
    """Boot one instance of an image; destroyed at the end of the test whatever happens.

    Instance-level tests (console, fleet, owners) use this; everything that
    runs programs asks the host for a session, as the rig does.
    """
    made: list[Instance] = []

    def start(image: Image, limits: Limits | None = None) -> Instance:
        inst = host.instance(image, f"test-{request.node.name[:20]}")
        if limits is not None:
            inst.limits = limits
        made.append(inst)
        inst.boot()
        return inst

    yield start
    for inst in made:
        inst.destroy()


class SessionsOf:
    """Sessions on one host for one test, each on a fresh VM, all closed when it ends."""

    def __init__(self, host: VmHost, campaign: str) -> None:
        self.host = host
        self.campaign = campaign
        self.made: list[Session] = []

    def __call__(self, image: Image, *, start: bool = True, slot: int = 0) -> Session:
        config = default_config(image.module, self.host.ctx.limits.call_s)
        s = self.host.session(image, config, campaign=self.campaign, slot=slot, start=start)
        self.made.append(s)
        return s

    def close(self) -> None:
        for s in self.made:
            s.close()


@pytest.fixture
def session_of(host: VmHost, request: pytest.FixtureRequest) -> Iterator[SessionsOf]:
    """A session (started, unless start=False) on a fresh VM of an image, as the rig gets one."""
    sessions = SessionsOf(host, f"test-{request.node.name[:20]}")
    yield sessions
    sessions.close()
