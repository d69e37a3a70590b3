"""Every real bug of tests/realbugs/ on a real VM: the trigger crashes the module with its fix
reverted, with the expected title, and leaves the module Debian ships alone.

One boot per image (a snapshot restore after the image's first boot): the
reverted driver/ as checked in, and the shipped sources fetched by `rig
image intree` without the patch. The agent may touch only what the trigger
names (its families and paths).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from rig.config import Home
from rig.context import RunContext
from rig.crash.parse import Report, parse_first
from rig.guest.protocol import AgentConfig, CallStatus, ProgramResult
from rig.guest.surface import COVERAGE_PATH
from rig.image import intree
from rig.image import kernel as kmod
from rig.image.build import Image
from rig.prog import text
from rig.prog.program import FileRead, FileWrite, NlSend, Open, Program
from rig.vmhost import VmHost
from tests.realbugs import RealBug, all_bugs

pytestmark = pytest.mark.vm

BUGS = all_bugs()
# A restored guest's debug shell prints its banner and prompt just as the first program
# starts; a report whose first line shares the prompt's line is titled "corrupted" by the
# parser (the prompt hides the printk timestamp), so the trigger waits for the prompt.
PROMPT = "/ # "
PROMPT_WAIT_S = 5.0
QUIET_AFTER_S = 3.0  # how long a stock module must stay silent after the trigger ran


def surface(program: Program, call_s: float) -> AgentConfig:
    """Exactly the families and paths the program names."""
    paths: list[str] = []
    families: list[str] = []
    for call in program.calls:
        if isinstance(call, Open | FileWrite | FileRead):
            paths.append(call.path)
        elif isinstance(call, NlSend):
            families.append(call.family)
    return AgentConfig(
        allow_paths=tuple(dict.fromkeys(paths)),
        allow_families=tuple(dict.fromkeys(families)),
        call_timeout_s=call_s,
        coverage_path=COVERAGE_PATH,
    )


def trigger(host: VmHost, image: Image, bug: RealBug) -> tuple[ProgramResult | None, Report | None]:
    """Run the bug's trigger on a fresh VM of `image`: its result and the kernel's report."""
    pf = text.load(bug.program)
    config = surface(pf.program, host.ctx.limits.call_s)
    with host.session(image, config, campaign="test-realbugs", header=pf.header) as session:
        inst = session.instance
        end = time.monotonic() + PROMPT_WAIT_S
        while PROMPT not in inst.console_text() and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(0.3)
        result = session.run(pf.program)
        if session.ending is None:
            session.wait_for_report(QUIET_AFTER_S)
        report = parse_first(inst.console_text()) if session.ending is not None else None
        assert session.ending is None or report is not None, session.ending
        return result, report


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_the_trigger_crashes_the_reverted_module_and_not_the_shipped_one(
    bug: RealBug, ctx: RunContext, host: VmHost, home: Home, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    reverted = ctx.build_image(bug.driver, params=bug.params)
    shipped_dir = intree.fetch(
        kmod.default_version(), home.root / "cache" / "linux-source", list(bug.sources),
        bug.module, tmp_path / "shipped",
    )  # fmt: skip
    shipped = ctx.build_image(shipped_dir, params=bug.params)
    assert reverted.module == shipped.module == bug.module
    t1 = time.monotonic()

    _, report = trigger(host, reverted, bug)
    assert report is not None, f"{bug.name}: the reverted module did not crash"
    assert report.title == bug.title, report.text
    assert re.search(bug.pattern, report.text.splitlines()[0]), report.text
    assert report.fatal == bug.fatal, report.text
    t2 = time.monotonic()

    result, report = trigger(host, shipped, bug)
    assert report is None, f"{bug.name}: the shipped module crashed: {report.title}"
    assert result is not None and len(result.calls) == len(text.load(bug.program).program.calls)
    assert all(c.status == CallStatus.OK for c in result.calls), result.calls
    print(
        f"{bug.name}: images {t1 - t0:.1f}s, reverted run {t2 - t1:.1f}s, "
        f"shipped run {time.monotonic() - t2:.1f}s"
    )
