"""The soak judge: slopes fitted to the settled half, bounds held, domains counted."""

from __future__ import annotations

import pytest

from rig.campaign.soak import BOUNDS, Sample, judge, slope_per_hour


def samples(rss: list[float], domains: int = 2, every_s: float = 60.0) -> list[Sample]:
    return [Sample(i * every_s, r, 40, 5, domains, 10.0, 0.1) for i, r in enumerate(rss)]


def test_slope_of_a_line_is_its_rate_per_hour() -> None:
    ts = [0.0, 600.0, 1200.0, 1800.0]
    assert slope_per_hour(ts, [10.0, 11.0, 12.0, 13.0]) == pytest.approx(6.0)
    assert slope_per_hour([0.0], [5.0]) == 0.0
    assert slope_per_hour([3.0, 3.0], [1.0, 9.0]) == 0.0


def test_growth_that_settles_passes_and_a_leak_fails() -> None:
    settling = [100.0 + min(i, 10) * 5 for i in range(60)]  # warms up, then flat
    ok = {j.metric: j for j in judge(samples(settling), vms=2)}
    assert ok["rss_mib"].ok and ok["rss_mib"].slope_per_hour == 0
    leak = [100.0 + i * 0.5 for i in range(60)]  # 30 MiB/h, past the 16 MiB/h bound
    bad = {j.metric: j for j in judge(samples(leak), vms=2)}
    assert not bad["rss_mib"].ok and bad["rss_mib"].slope_per_hour == pytest.approx(30.0)


def test_more_domains_than_vms_fails() -> None:
    assert not {j.metric: j for j in judge(samples([1.0] * 8, domains=3), vms=2)}["domains"].ok


def test_every_bound_states_its_reason() -> None:
    assert all(b.per_hour > 0 and b.why for b in BOUNDS)
