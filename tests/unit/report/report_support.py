"""A rig home made without a VM for report tests: one campaign, its image, a store and two runs.

The module is a real ELF object compiled with the coverage flags the rig
builds drivers with, packed into a real initramfs as an image holds it; its
trace-pc sites are found with objdump, independently of rig.report. The
crash is parsed from a hostile console log: a script tag, terminal escapes,
a bidi override and bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rig.campaign.directory import write_edges
from rig.config import Home
from rig.crash.parse import parse
from rig.crash.store import CrashStore, RunVerdict
from rig.image.initramfs import pack
from rig.image.module import COVERAGE_FLAGS

MODULE = "fakedrv"
IMAGE = "feedfacecafe00000000"
CAMPAIGN = "hostile-1"
PREVIOUS = "quiet-0"  # the previous run's campaign: its directory is gone, as old ones go
SCRIPT = "<script>alert(1)</script>"
ANSI_RED = "\x1b[31m"

SOURCE = r"""
volatile int sink;
int alpha(int x)
{
	if (x > 3)
		sink = 1;
	else
		sink = 2;
	if (x & 1)
		sink += 3;
	return sink;
}
int beta(int x)
{
	int i;
	for (i = 0; i < x; i++)
		if (i % 3 == 0)
			sink += i;
		else
			sink -= 1;
	return sink;
}
__attribute__((cold, noinline)) int gamma_cold(int x)
{
	if (x)
		sink = x;
	return 0;
}
__attribute__((section(".init.text"))) int fake_init(void)
{
	if (sink)
		return gamma_cold(sink);
	return 0;
}
"""

HOSTILE_LOG = (
    b"[   10.000000] rig: executing program 7\r\n"
    b"[   10.100000] BUG: " + SCRIPT.encode() + b" \x1b[31mred\x1b[0m in alpha\r\n"
    b"[   10.100001] CPU: 0 PID: 1 Comm: rig-agent\r\n"
    b"[   10.100002] Call Trace:\r\n"
    b"[   10.100003]  <TASK>\r\n"
    b"[   10.100004]  alpha+0x1/0x2 [fakedrv]\r\n"
    b"[   10.100005]  \xe2\x80\xaeevil\xff\xfe \x9b2J\r\n"
    b"[   10.100006]  </TASK>\r\n"
)
QUIET_LOG = (
    b"[   20.000000] WARNING: CPU: 0 PID: 9 at drivers/fake.c:10 beta+0x1/0x2 [fakedrv]\r\n"
    b"[   20.000001] Call Trace:\r\n"
    b"[   20.000002]  beta+0x1/0x2 [fakedrv]\r\n"
    b"[   20.000003] ---[ end trace 0000000000000000 ]---\r\n"
)
PROGRAMS = (
    'rig-program 1\nr0 = open("/dev/fake", 0x2, 0x0)\n'
    f'file_write("/sys/kernel/debug/fake/x", "{SCRIPT}\\n")\n'
).encode()


@dataclass(frozen=True)
class Synthetic:
    home: Home
    campaign: Path
    hostile: str  # bucket id of the hostile crash (new in run 2)
    quiet: str  # bucket id seen in run 1 only (gone in run 2)
    run: int  # the newer run
    previous: int
    sites: dict[str, list[int]]  # function -> return addresses of its trace-pc calls
    reached: set[int]


def trace_pc_sites(obj: Path) -> dict[str, list[int]]:
    """Return addresses of each .text function's trace-pc calls, read with objdump."""
    out = subprocess.run(
        ["objdump", "-dr", "--section=.text", str(obj)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sites: dict[str, list[int]] = {}
    func = ""
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:", line)
        if m:
            func = m.group(1)
            continue
        m = re.match(r"^\s+([0-9a-f]+): R_X86_64_PLT32\s+__sanitizer_cov_trace_pc-0x4", line)
        if m:
            sites.setdefault(func, []).append(int(m.group(1), 16) + 4)
    return sites


def compile_module(work: Path) -> Path:
    src = work / f"{MODULE}.c"
    src.write_text(SOURCE)
    ko = work / f"{MODULE}.ko"
    subprocess.run(
        ["gcc", "-c", "-O2", "-fno-pic", COVERAGE_FLAGS, "-o", str(ko), str(src)],
        check=True,
    )
    return ko


def make_image(home: Home, ko: Path) -> None:
    tree = home.root / "tmp-tree"
    (tree / "lib" / "modules").mkdir(parents=True)
    (tree / "lib" / "modules" / ko.name).write_bytes(ko.read_bytes())
    (tree / "init").write_text("#!/bin/sh\n")
    image = home.images / IMAGE
    image.mkdir(parents=True)
    pack(tree, image / "initramfs.cpio")
    manifest = {
        "image_id": IMAGE,
        "kernel": {"version": "6.1.0-57-amd64", "package_version": "6.1.192-3"},
        "module": {
            "name": MODULE,
            "coverage": "rigcov",
            "params": ["bugs=all"],
            "driver_dir": "/src/fakedrv",
        },
    }
    (image / "manifest.json").write_text(json.dumps(manifest))


def make_campaign(home: Home, created: float, reached: set[int]) -> Path:
    camp = home.campaign(CAMPAIGN)
    (camp / "workers" / "0").mkdir(parents=True)
    options = {
        "driver": "/src/fakedrv",
        "module": None,
        "engine": "atheris",
        "abis": [64, 32],
        "vms": 1,
        "duration_s": 60.0,
        "params": "bugs=all",
    }
    state = {"format": 1, "name": CAMPAIGN, "options": options, "created": created}
    state |= {"status": "finished", "elapsed_s": 60.0}
    (camp / "campaign.json").write_text(json.dumps(state))
    (camp / "current_image").write_text(IMAGE + "\n")
    with (camp / "timeseries.jsonl").open("w") as f:
        for i in range(13):
            rec = {"elapsed_s": 5.0 * i, "execs": 120 * i, "execs_per_s": 20.0 + (i % 4)}
            rec |= {"edges": min(len(reached), 2 * i), "buckets": 0 if i < 6 else 1}
            f.write(json.dumps({"time": created + 5 * i, **rec}) + "\n")
    # Edges as the worker keeps them: (previous pc << 32) | pc.
    pcs = sorted(reached)
    write_edges(
        camp / "workers" / "0" / "edges.bin",
        {(a << 32) | b for a, b in zip([0, *pcs[:-1]], pcs, strict=True)},
    )
    (camp / "workers" / "0" / "stats.json").write_text(json.dumps({"slot": 0, "execs": 1440}))
    return camp


def build(root: Path) -> Synthetic:
    home = Home(root / "home").ensure()
    work = root / "work"
    work.mkdir()
    ko = compile_module(work)
    sites = trace_pc_sites(ko)
    # All of alpha, one of beta, none of gamma_cold.
    reached = set(sites["alpha"]) | {sites["beta"][0]}
    make_image(home, ko)
    created = 1_796_000_000.0
    camp = make_campaign(home, created, reached)
    manifest = {"image_id": IMAGE, "kernel": "6.1.0-57-amd64"}
    with CrashStore.open(home.root) as store:
        quiet_report = parse(QUIET_LOG)[0]
        quiet = store.record(
            quiet_report, QUIET_LOG, PROGRAMS, PREVIOUS, "vm-q", manifest, when=created - 500
        ).bucket_id
        report = parse(HOSTILE_LOG)[0]
        hostile = store.record(
            report, HOSTILE_LOG, PROGRAMS, CAMPAIGN, "vm-\x1b[2Jx", manifest, when=created + 31
        ).bucket_id
        store.record(report, HOSTILE_LOG, PROGRAMS, CAMPAIGN, "vm-0", manifest, when=created + 40)
        first = store.start_run("fake-nightly", "h", "rev1", IMAGE, "6.1.0-57-amd64", PREVIOUS,
                                when=created - 1000)  # fmt: skip
        store.finish_run(first.id, "finished", 500, 3, [RunVerdict(first.id, quiet, "new", 1)],
                         when=created - 400)  # fmt: skip
        second = store.start_run("fake-nightly", "h", "rev2", IMAGE, "6.1.0-57-amd64", CAMPAIGN,
                                 when=created)  # fmt: skip
        verdicts = [
            RunVerdict(second.id, hostile, "new", 2, 2, 3),
            RunVerdict(second.id, quiet, "fixed", 0, 0, 3),
        ]
        store.finish_run(second.id, "finished", 1440, len(reached), verdicts, when=created + 60)
        bdir = store.dir / hostile
    (bdir / "repro.prog").write_bytes(PROGRAMS)
    (bdir / "repro.c").write_text(f"/* {SCRIPT} */\nint main(void) {{ return 0; }}\n")
    bisect = {"first_bad": "rev2", "steps": [{"rev": "rev1", "result": f"good {SCRIPT}"}]}
    (bdir / "bisect.json").write_text(json.dumps(bisect))
    summary = {
        "campaign": CAMPAIGN,
        "image": IMAGE,
        "elapsed_s": 60.0,
        "execs": 1440,
        "edges": len(reached),
        "ended": "finished",
        "error": "",
        "warnings": [f"a warning with {SCRIPT}"],
        "buckets": [{"id": hostile, "title": "t", "count": 2, "first_found_s": 31.0}],
    }
    (camp / "summary.json").write_text(json.dumps(summary))
    return Synthetic(home, camp, hostile, quiet, second.id, first.id, sites, reached)
