"""The bundled driver in a real guest: every door works, every planted bug fires as documented.

Triggers come from driver/selftests (boundary_trigger), run in the guest's
console shell; one short boot per planted bug, titles checked with the
rig's own parser against driver/bugs.toml. The ABI test and the trigger are
also built with -m32: a 32-bit process reaches the driver's compat_ioctl.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.bugtable import PlantedBug, load
from rig.config import Home
from rig.console.watcher import Ending
from rig.context import RunContext
from rig.crash.bucket import bucket_id
from rig.crash.parse import parse, parse_first
from rig.crash.store import CrashStore
from rig.deadline import Deadline
from rig.fleet.backend import Backend
from rig.fleet.instance import Instance
from rig.image.build import REPO, Image
from rig.vmhost import VmHost

pytestmark = pytest.mark.vm

BUGS = load(REPO / "driver")
SELFTESTS = (
    "boundary_test",
    "boundary_trigger",
    "boundary_cov_test",
    "boundary_test32",
    "boundary_trigger32",  # boundary_trigger runs it for bugs only a 32-bit caller reaches
)


@pytest.fixture(scope="session")
def selftests(driver_dir: Path) -> tuple[Path, ...]:
    proc = subprocess.run(
        ["make", "-s", "-C", str(driver_dir / "selftests")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return tuple(driver_dir / "selftests" / name for name in SELFTESTS)


@pytest.fixture(scope="session")
def test_image(
    ctx: RunContext, driver_dir: Path, selftests: tuple[Path, ...]
) -> Callable[[str], Image]:
    cache: dict[str, Image] = {}

    def get(params: str) -> Image:
        if params not in cache:
            cache[params] = ctx.build_image(driver_dir, params=params, include=selftests)
        return cache[params]

    return get


def run(inst: Instance, command: str, seconds: float = 120) -> tuple[int | None, str, object]:
    assert inst.watcher is not None
    return inst.watcher.shell(command, Deadline(seconds))


@pytest.fixture(scope="module")
def clean_vm(host: VmHost, test_image: Callable[[str], Image]) -> Iterator[Instance]:
    with host.instance(test_image(""), "driver-clean") as inst:
        inst.boot()
        yield inst


def test_every_door_works_and_rejects_bad_input_without_a_report(clean_vm: Instance) -> None:
    rc, out, report = run(clean_vm, "boundary_test")
    assert report is None, clean_vm.console_tail()
    assert rc == 0, out
    assert "not ok" not in out


def test_a_32_bit_caller_gets_the_same_answers_through_compat_ioctl(clean_vm: Instance) -> None:
    rc, out, report = run(clean_vm, "boundary_test32")
    assert report is None, clean_vm.console_tail()
    assert rc == 0, out
    assert "not ok" not in out


def test_coverage_is_collected_stable_per_branch(clean_vm: Instance) -> None:
    rc, out, report = run(clean_vm, "boundary_cov_test")
    assert report is None
    assert rc == 0, out


def test_no_trigger_reports_anything_when_bugs_are_off(clean_vm: Instance) -> None:
    for bug in BUGS:
        rc, _out, report = run(clean_vm, f"boundary_trigger {bug.name}", 60)
        assert report is None, f"{bug.name} reported with bugs off:\n{clean_vm.console_tail()}"
        assert rc is not None, f"{bug.name}: trigger did not return with bugs off"
    assert parse_first(clean_vm.console_text()) is None


def test_unknown_bug_name_fails_the_load_with_its_name(
    boot: Callable[..., Instance], test_image: Callable[[str], Image]
) -> None:
    from rig.errors import ConfigError

    with pytest.raises(ConfigError, match="nosuchbug"):
        boot(test_image("bugs=nosuchbug"))


def test_planted_bugs_have_distinct_buckets() -> None:
    assert len({bucket_id(b.title) for b in BUGS}) == len(BUGS)


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_planted_bug_fires_with_its_documented_report(
    bug: PlantedBug,
    home: Home,
    backend: Backend,
    boot: Callable[..., Instance],
    test_image: Callable[[str], Image],
) -> None:
    inst = boot(test_image(f"bugs={bug.name}"))
    _, _, outcome = run(inst, f"boundary_trigger {bug.name}", 120)
    assert outcome is not None and outcome.ending is Ending.REPORT, inst.console_tail()  # type: ignore[attr-defined]
    console = inst.console_text()
    assert any(bug.matches_line(line) for line in console.splitlines()), inst.console_tail()
    report = parse_first(console)
    assert report is not None
    assert report.title == bug.title
    with CrashStore.open(home.root) as store:
        recorded = store.record(
            report, console.encode(), None, "driver-bugs", inst.name, inst.image.manifest
        )
        bucket = store.bucket(recorded.bucket_id)
    assert bucket is not None and bucket.title == bug.title
    if not bug.fatal:
        assert backend.is_active(inst.name)  # the guest runs on after the report


def test_the_same_report_twice_counts_twice_in_one_bucket(
    home: Home, boot: Callable[..., Instance], test_image: Callable[[str], Image]
) -> None:
    inst = boot(test_image("bugs=debugfs_inject_warn"))
    for _ in range(2):  # WARN_ON, not WARN_ON_ONCE: the guest runs on and warns again
        _, _, outcome = run(inst, "boundary_trigger debugfs_inject_warn", 60)
        assert outcome is not None
    reports = parse(inst.console_text())
    assert [r.title for r in reports] == ["WARNING in boundary_inject_warn"] * 2
    with CrashStore.open(home.root) as store:
        first, second = (
            store.record(r, inst.console_text().encode(), None, "twice", inst.name) for r in reports
        )
    assert first.bucket_id == second.bucket_id
    assert second.count == first.count + 1


def test_with_all_bugs_on_each_trigger_reaches_its_own_bug(
    boot: Callable[..., Instance], test_image: Callable[[str], Image]
) -> None:
    inst = boot(test_image("bugs=all"))
    survivors = [b for b in BUGS if not b.fatal]
    fatal = next(b for b in BUGS if b.fatal)
    for bug in [*survivors, fatal]:
        _, _, outcome = run(inst, f"boundary_trigger {bug.name}", 120)
        assert outcome is not None, f"{bug.name} did not fire with bugs=all"
    titles = [r.title for r in parse(inst.console_text())]
    for bug in [*survivors, fatal]:
        assert bug.title in titles, (bug.name, titles)
