"""What a run says of each bucket, against the earlier runs of its configuration.

    new        seen for the first time by this configuration
    still      seen before and not fixed: seen again, or not hit this time but its
               reproducer still crashes this run's image
    fixed      not hit, and its reproducer, re-run on this run's image, crashed it
               in none of k runs (never just because fuzzing did not hit it)
    regressed  fixed by an earlier run, seen again
    flaky      seen, but its reproducer did not crash this run's image in k runs

A bucket fixed earlier and not seen now gets no verdict: nothing was judged.
The judgement is in two steps because the second needs VMs: `plan` says which
buckets need their reproducer run (`verify`) or made (`reproduce`, new ones),
`decide` turns the results into verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rig.crash.store import RunVerdict

OPEN = frozenset({"new", "still", "regressed", "flaky"})


def last_verdicts(history: Iterable[Iterable[RunVerdict]]) -> dict[str, str]:
    """Each bucket's latest verdict over earlier runs (oldest run first)."""
    out: dict[str, str] = {}
    for run in history:
        for v in run:
            out[v.bucket_id] = v.verdict
    return out


@dataclass
class Plan:
    seen: dict[str, int]  # bucket -> crashes in this run
    before: dict[str, str]  # bucket -> its latest verdict in earlier runs
    reproduce: list[str] = field(default_factory=list)  # new: make a reproducer (oldest first)
    verify: list[str] = field(default_factory=list)  # re-run the reproducer k times


def plan(
    seen: Mapping[str, int],
    before: Mapping[str, str],
    has_repro: Mapping[str, bool],
    first_seen: Mapping[str, float],
    max_new: int,
) -> Plan:
    """Which buckets need VM time to be judged."""
    p = Plan(dict(seen), dict(before))
    new = sorted((b for b in seen if b not in before), key=lambda b: first_seen.get(b, 0.0))
    p.reproduce = [b for b in new if not has_repro.get(b)][:max_new]
    for b, verdict in before.items():
        if verdict in OPEN and has_repro.get(b):
            p.verify.append(b)  # seen: still or flaky; not seen: still or fixed
    return p


def decide(p: Plan, repro: Mapping[str, tuple[int, int]]) -> list[RunVerdict]:
    """Verdicts from the plan and the reproducer runs: bucket -> (crashed, runs)."""
    out = []
    for b in sorted(set(p.seen) | {b for b, v in p.before.items() if v in OPEN}):
        ok, tries = repro.get(b, (0, 0))
        seen = p.seen.get(b, 0)
        prev = p.before.get(b)
        if prev is None:
            verdict = "new"
        elif prev == "fixed":
            verdict = "regressed"
        elif seen:
            verdict = "flaky" if tries and not ok else "still"
        elif tries and not ok:
            verdict = "fixed"
        else:
            verdict = "still"  # not hit, and no reproducer says otherwise
        out.append(RunVerdict(0, b, verdict, seen, ok, tries))
    return out
