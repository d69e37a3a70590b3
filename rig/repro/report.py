"""repro.md: what was reproduced, on what, how to run it, how reliable it was, and how it was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.repro.oracle import Step


@dataclass
class ReportFacts:
    title: str
    bucket_id: str | None
    manifest: dict[str, Any]
    source: str
    program_text: str
    calls: int
    programs: int
    found_by: str
    minimized: bool
    runs_ok: int
    runs: int
    c_verified: bool
    program_hits: int
    program_tries: int
    seconds: float
    boots: int
    replays: int
    steps: list[Step] = field(default_factory=list)
    other_titles: dict[str, int] = field(default_factory=dict)
    message: str = ""
    c_build: str = "gcc -static -O1 -o repro repro.c"  # -m32 for abi-32 programs


def _md(s: str) -> str:
    """Guest-made text inside markdown: no markup, no line breaks."""
    return "".join(c if c.isprintable() else " " for c in s).replace("`", "'")


def render(f: ReportFacts) -> str:
    m = f.manifest
    kernel = m.get("kernel", {})
    module = m.get("module", {})
    params = " ".join(module.get("params", [])) or "(none)"
    what = "repro.c" if f.c_verified or f.runs_ok == 0 else "repro.prog"
    lines = [
        f"# {_md(f.title)}",
        "",
        f"- bucket: `{f.bucket_id}`" if f.bucket_id else f"- from: `{_md(f.source)}`",
        f"- kernel: `{_md(str(kernel.get('version', '?')))}`"
        f" ({_md(str(kernel.get('package', '?')))} {_md(str(kernel.get('package_version', '')))})",
        f"- driver: `{_md(str(module.get('name', '?')))}`, source sha256"
        f" `{_md(str(module.get('source_sha256', '?')))}`, parameters `{_md(params)}`",
        f"- image: `{_md(str(m.get('image_id', '?')))}`, command line `{_md(str(m.get('cmdline', '')))}`",
        f"- reliability: **{f.runs_ok} of {f.runs}** fresh VMs showed this title running {what}"
        + ("" if f.c_verified else " (the C reproducer was not verified)"),
        f"- the program: {f.program_hits} of {f.program_tries} tries crashed while it was tested",
        f"- reproducer: {f.calls} call(s) in {f.programs} program(s), found by {f.found_by}"
        + ("" if f.minimized else "; minimisation stopped at the time budget"),
        f"- cost: {f.seconds:.0f} s, {f.boots} VM boots, {f.replays} replays",
        "",
        "## How to run it",
        "",
        "The program, through the rig's agent on a fresh VM of the same image:",
        "",
        "```sh",
        f"rig run repro.prog --params '{_md(params)}'",
        f"rig repro {f.bucket_id or 'repro.prog'}        # search, minimise and verify again",
        "```",
        "",
        "The standalone C reproducer (needs only libc), as root in a guest booted with the",
        "command line above and the driver loaded with the parameters above:",
        "",
        "```sh",
        f.c_build,
        "./repro        # -v prints every call's result",
        "```",
        "",
        "A hang is reported by the kernel 10-20 s after the reproducer returns (exit status 3).",
        "",
        "## The program",
        "",
        "```",
        f.program_text.rstrip(),
        "```",
    ]
    if f.message:
        lines += ["", f"Outcome: {_md(f.message)}"]
    if f.other_titles:
        lines += ["", "## Other titles seen while replaying", ""]
        lines += [f"- {_md(t)} ({n}x)" for t, n in sorted(f.other_titles.items())]
    if f.steps:
        lines += ["", "## Search", "", "| phase | programs | calls | tries | crashed | s |"]
        lines.append("|---|---|---|---|---|---|")
        for s in f.steps:
            lines.append(
                f"| {s.phase} | {s.programs} | {s.calls} | {s.tries} | {s.hits} | {s.seconds:.1f} |"
            )
    return "\n".join(lines) + "\n"
