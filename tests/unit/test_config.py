"""The guest's limits keep the order the rig relies on, and the command line makes crashes loud."""

from __future__ import annotations

import pytest

from rig.config import Limits, guest_cmdline
from rig.errors import ConfigError


def test_default_limits_are_ordered() -> None:
    limits = Limits()
    limits.check()
    assert limits.call_s < limits.hung_task_s
    assert max(limits.hung_task_worst_s, limits.soft_lockup_s) < limits.quiet_s < limits.boot_s


@pytest.mark.parametrize(
    "bad",
    [Limits(call_s=20), Limits(quiet_s=15), Limits(quiet_s=90, boot_s=60)],
)
def test_a_limit_out_of_order_is_refused(bad: Limits) -> None:
    with pytest.raises(ConfigError):
        bad.check()


def test_cmdline_turns_oopses_and_hangs_into_reports() -> None:
    words = set(guest_cmdline(Limits()).split())
    for needed in (
        "oops=panic",
        "panic=-1",
        "panic_on_warn=0",
        "softlockup_panic=1",
        "hung_task_panic=1",
        "sysctl.kernel.hung_task_timeout_secs=10",
        "watchdog_thresh=5",
        "printk.devkmsg=on",
    ):
        assert needed in words
