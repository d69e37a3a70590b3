"""Buckets: one bug, one bucket; different bugs, different buckets."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rig.crash import casefile
from rig.crash.bucket import ID_LEN, bucket_id, signature
from rig.crash.parse import parse

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "console"


def test_same_bug_same_bucket_across_runs() -> None:
    # Addresses, pids, CPU numbers, timestamps and offsets change between runs.
    a = "BUG kmalloc-64 (Tainted: G B OE ): Object at 0xffff9c0a81286a80 freed by pid 291 on CPU#1"
    b = "BUG kmalloc-64 (Not tainted): Object at 0xffff888012345678 freed by pid 17 on CPU#0"
    assert bucket_id(a) == bucket_id(b)
    assert bucket_id("WARNING in foo.constprop.0") == bucket_id("WARNING in foo")
    assert bucket_id("WARNING  in foo ") == bucket_id("WARNING in foo")


def test_different_bugs_different_buckets() -> None:
    titles = set()
    for path in casefile.case_paths(GOLDEN):
        for r in parse(casefile.load(path, keep_cr=True).log):
            titles.add(r.title)
    ids = {bucket_id(t) for t in titles}
    assert len(ids) == len(titles)
    assert bucket_id("WARNING in foo") != bucket_id("WARNING in bar")
    assert bucket_id("KASAN: use-after-free Read in f") != bucket_id(
        "KASAN: use-after-free Write in f"
    )


def test_golden_reports_recorded_twice_share_a_bucket() -> None:
    for path in casefile.case_paths(GOLDEN):
        log = casefile.load(path, keep_cr=True).log
        first = [bucket_id(r.title) for r in parse(log)]
        shifted = [bucket_id(r.title) for r in parse(b"noise before\n" * 3 + log)]
        assert first == shifted


@given(st.text(max_size=300))
def test_ids_are_short_hex_whatever_the_title(title: str) -> None:
    bid = bucket_id(title)
    assert len(bid) == ID_LEN and all(c in "0123456789abcdef" for c in bid)
    assert signature(title) and len(signature(title)) <= 120
