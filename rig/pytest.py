"""The rig's pytest plugin (entry point `rig`): property tests that run a driver's doors in a VM.

    from hypothesis import given, settings
    from rig import strategies

    @settings(max_examples=20, deadline=None)
    @given(strategies.ioctl("specs/mydrv.yaml", "MYDRV_IOC_XFER"))
    def test_xfer_never_crashes(rig_vm, prog):
        rig_vm.run(prog)

`rig_vm` (a `rig.testing.RigVm`) is module-scoped unless `--rig-scope` or
the `rig_scope` ini key says otherwise, because hypothesis runs every
example of a test on the fixtures the test got once. It boots nothing until
a test runs a program, so a run that selects no such test needs no libvirt.
A program that ends in a kernel report raises `KernelCrash` with the
report's bucket title; the next program gets a fresh VM (a snapshot
restore where the host has one).

What the VM boots comes from, in order: the `rig` marker (on the test, its
class or its module: `pytest.mark.rig(params="bugs=...", driver=...,
module=..., spec=..., reset=True)`), the command line (`--rig-*`), the ini
file (`rig_*`), and defaults: the repository's bundled driver when the
tests run inside the rig's own checkout, its `corpora/specs/MODULE.yaml`,
the home in $RIG_HOME (else ~/.local/share/rig). Relative paths are
relative to the rootdir.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from rig.config import default_home
from rig.image.build import REPO
from rig.smoke import campaign_name
from rig.testing import RESETS, HostOpener, RigVm, VmTarget

Scope = Literal["session", "package", "module", "class", "function"]
SCOPES: tuple[Scope, ...] = ("session", "package", "module", "class", "function")
MARKER_KEYS = ("params", "driver", "module", "spec", "reset")
MARKER_DOC = (
    "rig(params=None, driver=None, module=None, spec=None, reset=False): "
    "what rig_vm boots for this test (module parameters, driver directory, module name, spec); "
    "reset=True: start the test on a fresh VM"
)

# (option, ini key, help); an option's dest is its ini key.
_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--rig-driver", "rig_driver", "driver directory rig_vm builds its image from"),
    ("--rig-module", "rig_module", "module name, when the driver builds more than one"),
    ("--rig-params", "rig_params", 'module parameters, e.g. "bugs=ioctl_unconfigured"'),
    ("--rig-spec", "rig_spec", "interface spec (default: corpora/specs/MODULE.yaml)"),
    ("--rig-home", "rig_home", "rig home: images, kernels, snapshots (default: $RIG_HOME)"),
    ("--rig-uri", "rig_uri", "libvirt URI (default: $RIG_LIBVIRT_URI, else the rig's)"),
    ("--rig-reset", "rig_reset", "when to replace the VM besides after a crash: "
     "crash (never), test (before each test), run (before each program)"),
    ("--rig-scope", "rig_scope", "scope of the rig_vm fixture (default: module)"),
)  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rig", "rig: property tests against a driver in a VM")
    for opt, key, text in _OPTIONS:
        choices = RESETS if key == "rig_reset" else SCOPES if key == "rig_scope" else None
        group.addoption(opt, dest=key, default=None, choices=choices, help=text)
        parser.addini(key, text)
    group.addoption(
        "--rig-no-snapshot",
        dest="rig_no_snapshot",
        action="store_true",
        default=False,
        help="boot every VM cold instead of restoring the image's snapshot",
    )
    group.addoption(
        "--rig-record",
        dest="rig_record",
        action="store_true",
        default=False,
        help="put each crash (every failing example) into the home's crash store",
    )
    parser.addini("rig_record", "put crashes into the crash store (default: false)", type="bool")
    parser.addini(
        "rig_snapshots", "restore VMs from snapshots (default: true)", type="bool", default=True
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)


@dataclass(frozen=True)
class RigOptions:
    """The plugin's settings after the command line, the ini file and the defaults."""

    driver: Path | None
    module: str | None
    params: str
    spec: Path | None
    home: Path
    uri: str | None
    reset: str
    scope: Scope
    snapshots: bool
    base: Path
    record: bool = False  # what relative paths are relative to

    @classmethod
    def from_config(cls, config: pytest.Config) -> RigOptions:
        def get(key: str) -> str | None:
            value = config.getoption(key, default=None) or config.getini(key)
            return str(value) if value else None

        base = Path(config.rootpath)
        driver = _path(get("rig_driver"), base)
        if driver is None and _inside(base, REPO):
            driver = REPO / "driver"  # the rig's own checkout: its bundled driver
        env_home = os.environ.get("RIG_HOME")
        home = _path(get("rig_home"), base) or (Path(env_home) if env_home else default_home())
        reset = get("rig_reset") or "crash"
        scope = get("rig_scope") or "module"
        if reset not in RESETS:
            raise pytest.UsageError(f"rig_reset = {reset!r}: one of {', '.join(RESETS)}")
        if scope not in SCOPES:
            raise pytest.UsageError(f"rig_scope = {scope!r}: one of {', '.join(SCOPES)}")
        snapshots = bool(config.getini("rig_snapshots")) and not config.getoption(
            "rig_no_snapshot", default=False
        )
        return cls(
            driver=driver,
            module=get("rig_module"),
            params=get("rig_params") or "",
            spec=_path(get("rig_spec"), base),
            home=home,
            uri=get("rig_uri") or os.environ.get("RIG_LIBVIRT_URI") or None,
            reset=reset,
            scope=scope,
            snapshots=snapshots,
            base=base,
            record=bool(
                config.getoption("rig_record", default=False) or config.getini("rig_record")
            ),
        )

    def target(self, marker: pytest.Mark | None = None) -> VmTarget:
        """What to boot for a test with `marker` (its keywords win over the options)."""
        kw: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        unknown = set(kw) - set(MARKER_KEYS)
        if unknown or (marker is not None and marker.args):
            raise pytest.UsageError(
                f"pytest.mark.rig takes keywords {', '.join(MARKER_KEYS)}; got "
                + ", ".join([*map(repr, marker.args if marker else ()), *sorted(unknown)])
            )
        driver = _path(kw.get("driver"), self.base) or self.driver
        if driver is None:
            raise pytest.UsageError(
                "rig_vm: no driver to boot; give --rig-driver DIR, rig_driver in the ini file, "
                "or pytest.mark.rig(driver=...)"
            )
        return VmTarget(
            driver=driver,
            module=kw.get("module", self.module),
            params=str(kw.get("params", self.params) or ""),
            spec=_path(kw.get("spec"), self.base) or self.spec,
        )


def _path(value: str | os.PathLike[str] | None, base: Path) -> Path | None:
    if not value:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _scope(fixture_name: str, config: pytest.Config) -> Scope:
    return RigOptions.from_config(config).scope


@pytest.fixture(scope="session")
def rig_options(pytestconfig: pytest.Config) -> RigOptions:
    """The plugin's settings, for tests that want to know what rig_vm boots."""
    return RigOptions.from_config(pytestconfig)


@pytest.fixture(scope="session")
def rig_host(rig_options: RigOptions) -> Iterator[HostOpener]:
    """The libvirt host of every rig_vm of the run, connected when the first VM boots."""
    opener = HostOpener(rig_options.home, rig_options.uri, rig_options.snapshots)
    yield opener
    opener.close()


@pytest.fixture(scope=_scope)
def rig_vm(
    request: pytest.FixtureRequest, rig_options: RigOptions, rig_host: HostOpener
) -> Iterator[RigVm]:
    """A VM of the driver's image that runs programs; boots on the first one."""
    target = rig_options.target(request.node.get_closest_marker("rig"))
    vm = RigVm(rig_host, target, rig_options.reset, campaign_name("pytest"))
    vm.record = rig_options.record
    with vm:
        yield vm


@pytest.fixture(autouse=True)
def _rig_vm_per_test(request: pytest.FixtureRequest) -> None:
    """Apply a test's own `rig` marker and reset policy to the shared VM before the test runs."""
    if "rig_vm" not in request.fixturenames:
        return
    options: RigOptions = request.getfixturevalue("rig_options")
    vm: RigVm = request.getfixturevalue("rig_vm")
    marker = request.node.get_closest_marker("rig")
    vm.retarget(options.target(marker))
    if options.reset == "test" or (marker is not None and marker.kwargs.get("reset")):
        vm.reset()
