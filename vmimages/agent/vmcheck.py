#!/usr/bin/env python3
"""Check the agent in a real guest under raw QEMU/TCG, and measure it (a developer tool).

Builds a small initramfs (busybox, the agent, the virtio-serial modules, and
the boundary driver if given), boots it with the rig's port name `rig.agent`
on a unix socket, and runs through the channel: every call kind against
kernel files (procfs, sysfs, debugfs, genetlink "nlctrl"/"devlink", a tty),
the boundary driver's doors and coverage when loaded, policy refusals, a
blocking call that times out, exec of a static binary, the console markers,
and round-trip, pipelined and in-guest rates. Needs no libvirt.

    python vmimages/agent/vmcheck.py --kernel-root /tmp/kexp/root \\
        --vmlinux /tmp/kexp/vmlinux [--driver driver/boundary.ko] [--work /tmp/agenttest]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from rig.deadline import Deadline  # noqa: E402
from rig.guest.channel import Channel  # noqa: E402
from rig.guest.display import format_result  # noqa: E402
from rig.guest.protocol import (  # noqa: E402
    AgentConfig,
    CallStatus,
    ExecStatus,
    ProgStatus,
    netlink_errors,
)
from rig.prog.program import (  # noqa: E402
    O_RDONLY,
    O_RDWR,
    Buffer,
    Close,
    FileRead,
    FileWrite,
    Ioctl,
    NlSend,
    NlSocket,
    Open,
    Program,
    Read,
    Reloc,
    Special,
    Write,
)
from rig.spec import netlink  # noqa: E402

VIRTIO = [
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_pci_legacy_dev",
    "drivers/virtio/virtio_pci_modern_dev",
    "drivers/virtio/virtio_pci",
    "drivers/char/virtio_console",
]
INIT = """#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
$B mount -t debugfs debugfs /sys/kernel/debug
$B mount -t tmpfs tmp /tmp
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console; do
	$B insmod /lib/modules/$m.ko
done
[ -f /lib/modules/boundary.ko ] && $B insmod /lib/modules/boundary.ko $($B cat /etc/params)
$B mkfifo /tmp/fifo
echo RIG-READY
(while :; do /bin/rig-agent; echo "<4>rig: agent exited with $?" > /dev/kmsg; $B sleep 1; done) &
while :; do $B sleep 1000; done
"""
TIOCGWINSZ, TCGETS = 0x5413, 0x5401
O_NONBLOCK = 0o4000
GET_INFO, SET_CONFIG, XFER = 0x8038B701, 0x4028B702, 0xC018B703
SYSFS = "/sys/devices/virtual/misc/boundary/"


def genl(cmd: int, attrs: bytes, flags: int = netlink.NLM_F_REQUEST | netlink.NLM_F_ACK) -> bytes:
    """A generic netlink request; the agent fills in the family id."""
    return netlink.nlmsg(0, flags, netlink.genl(cmd, 1, attrs), seq=1)


def build_initramfs(args: argparse.Namespace, work: Path) -> Path:
    root = work / "root"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "lib/modules", "proc", "sys", "dev", "tmp", "etc"):
        (root / d).mkdir(parents=True)
    subprocess.run(["make", "-s", "-C", str(HERE), f"O={work}"], check=True)
    shutil.copy(work / "rig-agent", root / "bin" / "rig-agent")
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    kmods = next((args.kernel_root / "lib" / "modules").iterdir()) / "kernel"
    for m in VIRTIO:
        shutil.copy(kmods / f"{m}.ko", root / "lib" / "modules")
    if args.driver:
        shutil.copy(args.driver, root / "lib" / "modules" / "boundary.ko")
    (root / "etc" / "params").write_text(args.params)
    (root / "init").write_text(INIT)
    (root / "init").chmod(0o755)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    cpio = work / "initrd.cpio"
    with cpio.open("wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", "newc", "-R", "0:0", "--reproducible", "--quiet"],
            input="\n".join(["."] + [f"./{f}" for f in files]).encode(),
            cwd=root,
            stdout=out,
            check=True,
        )
    return cpio


def boot(args: argparse.Namespace, work: Path, cpio: Path) -> subprocess.Popen[bytes]:
    sock = work / "agent.sock"
    sock.unlink(missing_ok=True)
    cmd = [
        "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
        "-bios", "/usr/share/qemu/qboot.rom", "-kernel", str(args.vmlinux), "-initrd", str(cpio),
        "-append", "console=ttyS0 loglevel=6 oops=panic panic=-1 printk.devkmsg=on",
        "-nodefaults", "-serial", f"file:{work / 'console.log'}", "-monitor", "none",
        "-display", "none", "-device", "virtio-serial",
        "-chardev", f"socket,id=c0,path={sock},server=on,wait=off",
        "-device", "virtserialport,chardev=c0,name=rig.agent",
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Checks:
    failed: int = 0

    def __call__(self, ok: bool, what: str) -> None:
        print(("PASS " if ok else "FAIL ") + what)
        self.failed += not ok


def kernel_doors(ch: Channel, check: Checks) -> None:
    dbg = "/sys/kernel/debug/virtio-ports/"
    prog = Program(
        (
            Open("/dev/ttyS0", O_RDWR | O_NONBLOCK),
            Ioctl(0, TIOCGWINSZ, Buffer.of(size=8)),
            Ioctl(0, TCGETS, Buffer.of(size=60, mapped=8)),  # crosses into an unmapped page
            Ioctl(0, TCGETS, Special.NULL),
            Ioctl(0, TCGETS, Special.KERNEL),
            Write(0, b""),
            Close(0),
            NlSocket(),
            NlSend(7, "nlctrl", genl(3, netlink.nla(2, b"devlink\0"))),
            NlSend(7, "nlctrl", genl(3, struct.pack("<HH", 200, 2) + b"x\0\0\0")),
            FileWrite("/sys/kernel/rcu_expedited", b"0\n" + bytes((1 << 20) - 2)),
            FileRead("/proc/version", 100),
            FileRead(dbg + "vport0p1", 400),
            FileRead("/etc/passwd", 10),
            FileRead("/proc/sysrq-trigger", 10),
            FileRead(dbg + "../../../module/virtio_ring/parameters/force_used_validation", 10),
            NlSend(7, "nosuchfam", b""),
        )
    )
    r = ch.run(prog, 1)
    print("\n".join(format_result(prog, r)))
    c = r.calls
    check(r.status == ProgStatus.OK, "program of kernel doors ran")
    check(c[1].ret == 0 and len(c[1].output) == 8, "ioctl output buffer captured")
    check(c[2].errno == 14 and c[3].errno == 14 and c[4].errno == 14, "special pointers: EFAULT")
    check(netlink_errors(c[8].output) == [0], "genetlink request answered and acked")
    check(netlink_errors(c[9].output) == [-22], "malformed netlink message: kernel's EINVAL back")
    check(c[10].ret == 4096, "1 MiB sysfs write: one write(2), short count of a page")
    check(c[11].output.startswith(b"Linux version"), "procfs read")
    check(b"name: rig.agent" in c[12].output, "debugfs read")
    check([x.status for x in c[13:17]] == [CallStatus.REFUSED] * 4, "policy refusals")


def boundary_doors(ch: Channel, check: Checks) -> None:
    cfg = struct.pack("<II32s", 0, 64, b"rig")
    xin = Buffer.of(
        struct.pack("<QIIII", 0, 5, 0, 0, 0), size=24, ptrs=(Reloc(0, Buffer.of(b"hello")),)
    )
    xout = Buffer.of(
        struct.pack("<QIIII", 0, 5, 1, 0, 0), size=24, ptrs=(Reloc(0, Buffer.of(size=5)),)
    )
    prog = Program(
        (
            Open("/dev/boundary"),
            Ioctl(0, GET_INFO, Buffer.of(size=56)),
            Ioctl(0, SET_CONFIG, Buffer.of(cfg)),
            Ioctl(0, XFER, xin),
            Ioctl(0, XFER, xout),
            Read(0, 64),
            NlSocket(),
            NlSend(6, "boundary", genl(1, b"")),
            NlSend(6, "boundary", genl(2, netlink.nla(1, struct.pack("<I", 99)))),
            NlSend(6, "boundary", genl(4, b"", flags=0x301)),
            FileWrite(SYSFS + "mode", b"2\n" + bytes((1 << 20) - 2)),
            FileRead("/proc/boundary/status", 4096),
            FileRead("/sys/kernel/debug/boundary/stats", 4096),
            FileRead("/sys/kernel/debug/rigcov/cov", 64),
            FileWrite(SYSFS + "mode", b"0"),
        )
    )
    r = ch.run(prog, 2)
    print("\n".join(format_result(prog, r)))
    c = r.calls
    check(all(x.status == CallStatus.OK for x in c[:13]), "boundary doors ran")
    check(c[4].output.endswith(b"hello"), "XFER copy-out into a nested buffer captured")
    check(netlink_errors(c[8].output) == [-34], "netlink SET with MODE 99: ERANGE")
    check(c[10].ret == 4096, "1 MiB write to sysfs mode: short count of a page")
    check(c[13].status == CallStatus.REFUSED, "coverage file refused to programs")
    check(sum(len(x.pcs) for x in c) > 0, "coverage collected")


def timeouts_and_exec(ch: Channel, work: Path, check: Checks) -> None:
    t = time.monotonic()
    prog = Program((FileRead("/proc/version", 5), Open("/tmp/fifo", O_RDONLY), Read(1, 1)))
    r = ch.run(prog, 3)
    took = time.monotonic() - t
    check(
        [x.status for x in r.calls] == [CallStatus.OK, CallStatus.TIMED_OUT, CallStatus.NOT_RUN],
        f"blocking open of a FIFO timed out ({took:.2f}s)",
    )
    check(ch.run(Program((FileRead("/proc/version", 5),)), 4).calls[0].ret == 5, "agent alive")
    bb = Path("/bin/busybox").read_bytes()
    e = ch.exec_binary(bb, ("busybox", "sh", "-c", "echo hi; exit 7"), timeout_s=10)
    check((e.status, e.code, e.output) == (ExecStatus.EXITED, 7, b"hi\n"), "exec of a binary")
    e = ch.exec_binary(bb, ("busybox", "sleep", "30"), timeout_s=1)
    check(e.status == ExecStatus.TIMED_OUT, "exec time limit")
    text = (work / "console.log").read_text(errors="replace")
    check("rig: executing program 4" in text, "console marker")


def rates(ch: Channel, config: AgentConfig, programs: dict[str, Program]) -> None:
    n = 200
    t = time.monotonic()
    for _ in range(n):
        ch.handshake(Deadline(10))
    print(f"round trip of a hello (no fork): {(time.monotonic() - t) / n * 1e6:.0f} us")
    ch.configure(config, Deadline(30))
    t = time.monotonic()
    for i in range(n):
        ch.run(Program(), 10_000 + i)
    print(f"round trip of an empty program: {(time.monotonic() - t) / n * 1e6:.0f} us")
    for name, p in programs.items():
        inside = [ch.bench(p, 10**6, 2.0, seq_base=10**6).rate for _ in range(2)]
        e2e: dict[int, list[float]] = {}
        for w in (1, 8):
            for _ in range(2):
                t = time.monotonic()
                k = sum(1 for _ in ch.run_many(((10**7 + i, p) for i in range(400)), window=w))
                e2e.setdefault(w, []).append(k / (time.monotonic() - t))
        mean = statistics.mean
        print(
            f"{name:10} in-guest {mean(inside):5.0f}/s  end-to-end window 1 {mean(e2e[1]):5.0f}/s"
            f"  window 8 {mean(e2e[8]):5.0f}/s  ratio {mean(e2e[8]) / mean(inside):.2f}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kernel-root", type=Path, required=True, help="unpacked linux-image .deb")
    ap.add_argument("--vmlinux", type=Path, required=True, help="PVH-bootable vmlinux")
    ap.add_argument("--driver", type=Path, help="boundary.ko to load")
    ap.add_argument("--params", default="", help="its module parameters")
    ap.add_argument("--work", type=Path, default=Path("/tmp/agenttest"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    check = Checks()
    qemu = boot(args, args.work, build_initramfs(args, args.work))
    try:
        ch = Channel.connect(args.work / "agent.sock", Deadline(10))
        info = ch.handshake(Deadline(60))
        print(f"agent pid {info.pid} on {info.release}")
        paths = ["/dev/ttyS0", "/proc/version", "/proc/sysrq-trigger", "/sys/kernel/rcu_expedited",
                 "/sys/kernel/debug/virtio-ports/", "/tmp/fifo"]  # fmt: skip
        families = ["nlctrl", "devlink", "nosuchfam"]
        cov = None
        if args.driver:
            paths += ["/dev/boundary", "/proc/boundary/", SYSFS, "/sys/kernel/debug/boundary/"]
            families.append("boundary")
            cov = "/sys/kernel/debug/rigcov/cov"
        config = AgentConfig(tuple(paths), tuple(families), 2.0, cov)
        print(ch.configure(config, Deadline(30)))
        kernel_doors(ch, check)
        programs = {"empty": Program(), "file_read": Program((FileRead("/proc/version", 64),))}
        if args.driver:
            boundary_doors(ch, check)
            programs["boundary"] = Program(
                (Open("/dev/boundary"), Ioctl(0, GET_INFO, Buffer.of(size=56)), Close(0))
            )
        timeouts_and_exec(ch, args.work, check)
        rates(ch, config, programs)
        ch.close()
    finally:
        qemu.kill()
        qemu.wait()
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
