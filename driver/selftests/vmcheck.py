#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks the boundary driver's planted bugs and clean behaviour in real guests.

Boots (through vmrun.sh, QEMU/TCG) one guest per planted bug with bugs=NAME,
one per bug with bugs=all, one with bugs=all running two non-fatal triggers
then a fatal one, two with no bugs (30 s of random input from
boundary_stress, the ABI test in both ABIs, the coverage test, every trigger; no report
allowed, coverage hashes compared across the two boots) and one with an
unknown bug name, and checks each console against driver/bugs.toml.
A development aid: the rig's own VM tests use its image and fleet code.

    make -C driver KDIR=... && make -C driver/selftests
    driver/selftests/vmcheck.py [-j 2] [--only NAME ...]
"""
import argparse
import concurrent.futures
import pathlib
import re
import subprocess
import sys
import tomllib

HERE = pathlib.Path(__file__).resolve().parent
BUGS = tomllib.loads((HERE.parent / "bugs.toml").read_text())["bug"]
# First lines of kernel reports of any kind, for the boots that must have none.
ANY_REPORT = re.compile(
    r"BUG:|BUG [a-z0-9_-]+ |WARNING:|general protection fault|divide error|"
    r"kernel BUG at|Kernel panic|usercopy:|soft lockup|blocked for more than|"
    r"Oops|invalid opcode|UBSAN|list_(add|del) corruption|cut here"
)


def boot(bugs, cmds, timeout=150):
    args = [str(HERE / "vmrun.sh")] + (["-b", bugs] if bugs else []) + ["--"] + cmds
    out = subprocess.run(args, capture_output=True, timeout=timeout,
                         env={"QEMU_TIMEOUT": str(timeout - 10), "PATH": "/usr/bin:/bin"})
    return out.stdout.decode(errors="replace").replace("\r\n", "\n")


def first_line(console, pattern):
    m = re.search(pattern, console)
    if not m:
        return None
    start = console.rfind("\n", 0, m.start()) + 1
    end = console.find("\n", m.end())
    return console[start:end if end >= 0 else None].strip()


def check_bug(bug, bugs_param):
    console = boot(bugs_param, [f"boundary_trigger {bug['name']}"])
    line = first_line(console, bug["pattern"])
    problems = []
    if "vmrun: insmod rc=0" not in console:
        problems.append("module did not load")
    if not line:
        problems.append(f"pattern {bug['pattern']!r} not on the console")
    elif bug["function"] not in console[console.find(line):]:
        problems.append(f"{bug['function']} not in the report")
    ran_on = "vmrun: done" in console
    if ran_on == bug["fatal"]:
        problems.append("guest ran on" if ran_on else "guest died")
    return f"bugs={bugs_param} {bug['name']}", line, problems, console


def check_clean(tag, seed):
    cmds = [f"boundary_stress 30 {seed}", "boundary_test", "boundary_test32", "boundary_cov_test"]
    cmds += [f"boundary_trigger {b['name']}" for b in BUGS]
    console = boot("", cmds)
    problems = []
    for cmd in cmds[:4]:
        m = re.search(rf"vmrun: run: {re.escape(cmd)}\n(?:.*\n)*?vmrun: rc=(\d+)", console)
        if not m or m.group(1) != "0":
            problems.append(f"{cmd} failed")
    report = first_line(console, ANY_REPORT)
    if report:
        problems.append(f"report with no bugs: {report}")
    if "vmrun: done" not in console:
        problems.append("guest did not finish")
    hashes = sorted(re.findall(r"^cov-hash .*$", console, re.M))
    return f"clean boot {tag}", "\n".join(hashes), problems, console


def check_all_in_one_boot():
    """bugs=all, the two non-fatal triggers, then a fatal one, in one boot."""
    names = ["debugfs_inject_warn", "procfs_double_reset", "debugfs_crash_hook"]
    console = boot("all", [f"boundary_trigger {n}" for n in names])
    problems, lines, pos = [], [], 0
    for name in names:
        bug = next(b for b in BUGS if b["name"] == name)
        m = re.compile(bug["pattern"]).search(console, pos)
        if not m:
            problems.append(f"{name}: pattern not found after the previous report")
            continue
        lines.append(first_line(console[m.start():], bug["pattern"]))
        pos = m.end()
    return "bugs=all, three triggers in one boot", " | ".join(lines), problems, console


def check_unknown():
    console = boot("ioctl_unconfigured,nosuchbug", ["cat /proc/modules"])
    problems = []
    if "vmrun: insmod rc=0" in console:
        problems.append("unknown bug name loaded")
    line = first_line(console, r"boundary: unknown planted bug 'nosuchbug'")
    if not line:
        problems.append("no log line naming the unknown bug")
    return "bugs=...,nosuchbug", line, problems, console


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", type=int, default=2, help="guests at a time")
    ap.add_argument("--only", nargs="*", help="only these bug names")
    ap.add_argument("--logs", type=pathlib.Path, help="keep consoles here")
    opts = ap.parse_args()

    bugs = [b for b in BUGS if not opts.only or b["name"] in opts.only]
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(opts.j) as pool:
        for b in bugs:
            jobs.append(pool.submit(check_bug, b, b["name"]))
            jobs.append(pool.submit(check_bug, b, "all"))
        if not opts.only:
            jobs += [pool.submit(check_clean, "A", 1), pool.submit(check_clean, "B", 2),
                     pool.submit(check_all_in_one_boot), pool.submit(check_unknown)]
        results = [j.result() for j in jobs]

    failed = 0
    hashes = {}
    for i, (what, line, problems, console) in enumerate(results):
        if opts.logs:
            opts.logs.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^a-zA-Z0-9_.=-]+", "_", what)
            (opts.logs / f"{i:02d}-{name}.log").write_text(console)
        if what.startswith("clean boot"):
            hashes[what] = line
        status = "FAIL" if problems else "ok"
        failed += bool(problems)
        print(f"{status:4} {what}: {line}")
        for p in problems:
            print(f"     {p}")
    if len(set(hashes.values())) > 1:
        print("FAIL coverage hashes differ between boots:")
        for k, v in hashes.items():
            print(f"     {k}: {v}")
        failed += 1
    elif hashes:
        print("ok   coverage hashes equal across boots")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
