"""The soak judge: slopes fitted to the settled half, bounds held, short windows not judged."""

from __future__ import annotations

import pytest

from rig.campaign.soak import BOUNDS, Sample, judge, slope_per_hour


def samples(
    rss: list[float], domains: int = 2, every_s: float = 60.0, fds_per_boot: float = 0.0
) -> list[Sample]:
    return [
        Sample(i * every_s, 3 * i, r, int(40 + fds_per_boot * 3 * i), 5, domains, 10.0, 0.1)
        for i, r in enumerate(rss)
    ]


def by_metric(found: list) -> dict:  # type: ignore[type-arg]
    return {j.metric: j for j in found}


def test_slope_of_a_line_is_its_rate_per_hour() -> None:
    ts = [0.0, 600.0, 1200.0, 1800.0]
    assert slope_per_hour(ts, [10.0, 11.0, 12.0, 13.0]) == pytest.approx(6.0)
    assert slope_per_hour([0.0], [5.0]) == 0.0
    assert slope_per_hour([3.0, 3.0], [1.0, 9.0]) == 0.0


def test_growth_that_settles_passes_and_a_leak_fails() -> None:
    settling = [100.0 + min(i, 10) * 5 for i in range(60)]  # warms up, then flat
    ok = by_metric(judge(samples(settling), vms=2))
    assert ok["rss_mib"].ok and ok["rss_mib"].judged and ok["rss_mib"].slope == 0
    leak = [100.0 + i * 0.5 for i in range(60)]  # 30 MiB/h, past the 16 MiB/h bound
    bad = by_metric(judge(samples(leak), vms=2))
    assert not bad["rss_mib"].ok and bad["rss_mib"].slope == pytest.approx(30.0)


def test_a_short_window_judges_descriptors_but_not_memory() -> None:
    short = samples([100.0 + i for i in range(18)], every_s=10.0, fds_per_boot=1.0)
    found = by_metric(judge(short, vms=2))
    assert (
        found["rss_mib"].ok and not found["rss_mib"].judged and "not judged" in found["rss_mib"].why
    )
    assert found["fds"].judged and not found["fds"].ok  # one descriptor per boot leaks
    assert by_metric(judge(samples([1.0] * 18, every_s=10.0), vms=2))["fds"].ok


def test_more_domains_than_vms_fails() -> None:
    assert not by_metric(judge(samples([1.0] * 8, domains=3), vms=2))["domains"].ok


def test_every_bound_states_its_reason() -> None:
    assert all(b.per_hour > 0 and b.why for b in BOUNDS)


def test_a_collectors_sawtooth_is_not_growth_but_a_rising_floor_is() -> None:
    # The 1-hour soak's shape: workers swing about 30 MiB between collections.
    saw = [290.0 + (30.0 if i % 3 == 0 else 0.0) + (15.0 if i % 7 == 0 else 0.0) for i in range(60)]
    saw[-1] = 335.0  # a peak at the very end pulls a plain fit up
    ok = by_metric(judge(samples(saw), vms=2))["rss_mib"]
    assert ok.ok and abs(ok.slope) < 5, ok
    leak = [v + i * 0.4 for i, v in enumerate(saw)]  # + 24 MiB/h under the same sawtooth
    bad = by_metric(judge(samples(leak), vms=2))["rss_mib"]
    assert not bad.ok and bad.slope == pytest.approx(24.0, abs=4), bad


def _procs(leak_per_sample: float) -> list[Sample]:
    out = []
    for i in range(60):
        by_pid = {
            "1": 50.0 + 0.01 * i,  # the parent: flat
            "2": 50.0 + (28.0 if i % 4 == 1 else 0.0),  # a worker collecting every 4 samples
            "3": 50.0 + (25.0 if i % 5 == 3 else 0.0) + leak_per_sample * i,  # out of phase
        }
        if i >= 50:
            by_pid["4"] = 300.0  # came late: not judged
        total = sum(by_pid.values())
        out.append(Sample(i * 60.0, 3 * i, total, 40, 3, 2, 10.0, 0.1, by_pid))
    return out


def test_memory_is_judged_per_process_by_each_ones_floor() -> None:
    ok = by_metric(judge(_procs(0.0), vms=2))["rss_mib"]
    assert ok.ok and abs(ok.slope) < 2, ok
    bad = by_metric(judge(_procs(0.4), vms=2))["rss_mib"]  # one worker leaks 24 MiB/h
    assert not bad.ok and bad.slope == pytest.approx(24.0, abs=2), bad
