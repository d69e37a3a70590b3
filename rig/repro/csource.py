"""Programs to standalone C that needs only libc, with the agent's exact semantics, and its build.

The C does what the guest agent does (vmimages/agent/run.c, policy.c):

- each program runs in a forked child; a call that takes longer than the
  agent's call limit gets the child killed and the program ends there, the
  next program still runs;
- ioctl buffers are placed in a fresh arena per program, in the agent's
  order (a buffer, then what it points to), 16-byte aligned, or, for a
  buffer crossing into an unmapped page, flush against a PROT_NONE page;
  special pointers are 0, an address in a PROT_NONE page, and the agent's
  kernel address; pointers inside buffers are written after the data, as
  the low 8 or 4 bytes (their width) of the address, little-endian;
- abi-32 programs make a 32-bit reproducer (gcc -m32, which `compile_static`
  reads from the source), as the agent runs them in its 32-bit helper: the
  compat syscalls, and the driver's compat_ioctl, are what they reach;
- reads land in the arena too; writes come from static data;
- nl_send resolves the family by name (CTRL_CMD_GETFAMILY), writes its id
  into the type of every message the kernel would parse, sends, and reads
  every reply there is without blocking;
- file_write and file_read are open, one write(2) or read(2), close;
- opens the agent refuses by name come out as the refusal (see
  rig.repro.policy); paths under an allowlisted directory are opened beneath
  it with openat2, as the agent does.

`-v` prints one line per call (program.call, return value, errno, output in
hex) in the same terms as the agent's results, which is how the tests hold
the two to the same behaviour.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rig.errors import BuildError
from rig.guest.protocol import AgentConfig
from rig.prog import text
from rig.prog.program import (
    BAD_FD,
    MAX_ARENA,
    MAX_BUFFERS,
    MAX_TOUCH,
    PAGE,
    RAW_FAMILIES,
    Buffer,
    Call,
    Close,
    FileRead,
    FileWrite,
    Ioctl,
    IoctlArg,
    Mmap,
    Munmap,
    NlSend,
    NlSocket,
    Open,
    Poll,
    Program,
    Read,
    Special,
    Write,
)
from rig.repro import policy

log = logging.getLogger(__name__)

KERNEL_ADDR = 0xFFFFFFFF81000000  # twin of KERNEL_ADDR in vmimages/agent/agent.h
MAX_OUTPUT = 64 << 10  # the agent's default max_output: what -v prints per call
# Twin of ARENA_SIZE in vmimages/agent/agent.h: MAX_ARENA + MAX_BUFFERS pages + SCRATCH.
AGENT_ARENA = MAX_ARENA + MAX_BUFFERS * PAGE + (1 << 20)
CFLAGS = ("-static", "-O1", "-s", "-Wall", "-Wno-unused-function", "-Wno-unused-variable")
ABI_CFLAGS = {64: (), 32: ("-m32",)}  # gcc -m32 needs gcc-multilib
_ABI_LINE = re.compile(r"^#define RIG_ABI (\d+)\b", re.MULTILINE)
EXIT_TIMED_OUT = 3  # the reproducer's exit status when a call hit the call limit

_PRELUDE = r"""#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64	/* a 64-bit mmap offset in a 32-bit build too */
#define RIG_ABI %(abi)d		/* the programs' ABI: 32 is a 32-bit process */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if RIG_ABI == 32 && UINTPTR_MAX != 0xffffffffu
#error "its programs are abi 32 (compat ioctls): build it with gcc -m32"
#elif RIG_ABI == 64 && UINTPTR_MAX == 0xffffffffu
#error "its programs are abi 64: build it without -m32"
#endif

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef AF_NETLINK
#define AF_NETLINK 16
#endif
#define NETLINK_GENERIC_ 16
#define PAGE 4096
#define KERNEL_ADDR 0x%(kernel)xull
#define CALL_LIMIT_NS (%(call_ms)dull * 1000000ull)
#define KILL_GRACE_NS 500000000ull
#define NL_RECV_MAX 65536
#define OUT_MAX %(out_max)d
#define ARENA_BYTES %(arena)dul
#define NO_FD (-1L)
#define RESOLVE_NO_MAGICLINKS_ 0x02
#define RESOLVE_BENEATH_ 0x08

/* open(2)'s own flag rules, which openat2 enforces strictly (as the agent masks them). */
#define OPEN_FLAGS (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | \
		O_NONBLOCK | O_DSYNC | O_SYNC | FASYNC | O_DIRECT | O_LARGEFILE | \
		O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE)

struct nl_addr {	/* struct sockaddr_nl */
	uint16_t family, pad;
	uint32_t pid, groups;
};

struct progress {	/* shared with the parent, which enforces the call limit */
	volatile uint32_t cur;
	volatile uint64_t start_ns;
};

static int verbose;
static struct progress *progress;
static unsigned char *arena;
static size_t arena_used;
static uint64_t unmapped;
static unsigned char out[OUT_MAX];
static size_t out_len;
static int refused_call;
static unsigned char nl_scratch[NL_RECV_MAX];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The agent's arena_alloc: 16-byte steps, or flush against an inaccessible page. */
static unsigned char *arena_alloc(size_t n, int crossing)
{
	size_t at, pages;

	if (!crossing) {
		at = arena_used;
		arena_used += (n + 15) & ~(size_t)15;
		return arena + at;
	}
	at = (arena_used + PAGE - 1) & ~(size_t)(PAGE - 1);
	pages = (n + PAGE - 1) & ~(size_t)(PAGE - 1);
	mprotect(arena + at + pages, PAGE, PROT_NONE);
	arena_used = at + pages + PAGE;
	return arena + at + pages - n;
}

/* The low width bytes of an address, little-endian (a compat_uptr_t takes 4). */
static void put_ptr(unsigned char *at, uint64_t v, int width)
{
	int i;

	for (i = 0; i < width; i++)
		at[i] = (unsigned char)(v >> (8 * i));
}

static void out_add(const void *p, size_t n)
{
	if (!verbose)
		return;
	if (n > OUT_MAX - out_len)
		n = OUT_MAX - out_len;
	memcpy(out + out_len, p, n);
	out_len += n;
}

static void begin(int call)
{
	progress->start_ns = now_ns();
	__atomic_store_n(&progress->cur, (uint32_t)call, __ATOMIC_RELEASE);
	out_len = 0;
	refused_call = 0;
	errno = 0;
}

static void end(int prog, int call, long ret)
{
	static const char hex[] = "0123456789abcdef";
	static char line[128 + 2 * OUT_MAX];
	int err = ret < 0 ? errno : 0, n;
	size_t i;

	if (!verbose)
		return;
	n = snprintf(line, 128, "call %%d.%%d ret=%%ld errno=%%d st=%%s out=", prog, call, ret, err,
		refused_call ? "refused" : "ok");
	for (i = 0; i < out_len; i++) {
		line[n++] = hex[out[i] >> 4];
		line[n++] = hex[out[i] & 15];
	}
	line[n++] = '\n';
	if (write(1, line, (size_t)n) < 0)
		return;
}

static long refuse(int err)
{
	refused_call = 1;
	errno = err;
	return -1;
}

/* policy_open for a path beneath an allowlisted directory (the agent's open_beneath). */
static long open_beneath(const char *dir, const char *rel, int flags, unsigned mode)
{
	struct { uint64_t flags, mode, resolve; } how;
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	long fd;

	if (dfd < 0) {
		errno = ENOENT;
		return -1;
	}
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(uint32_t)flags & OPEN_FLAGS;
	if (how.flags & O_PATH)
		how.flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	how.mode = (how.flags & (O_CREAT | __O_TMPFILE)) ? (mode & 07777) : 0;
	how.resolve = RESOLVE_BENEATH_ | RESOLVE_NO_MAGICLINKS_;
	fd = syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dfd, rel, flags | O_NOFOLLOW, mode);
	if (fd >= 0)
		close(dfd);
	else {
		int err = errno;

		close(dfd);
		errno = err;
	}
	return fd;
}

/* Resolve a generic netlink family by name (the agent's genl_family_id): id or -errno. */
static int genl_family_id(const char *name)
{
	struct nl_addr kernel = { AF_NETLINK, 0, 0, 0 };
	struct timeval tv = { 1, 0 };
	unsigned char req[128];
	static unsigned char reply[8192];
	size_t nlen = strlen(name) + 1, alen = 4 + nlen;
	uint32_t len = (uint32_t)(16 + 4 + ((alen + 3) & ~(size_t)3)), off;
	uint16_t u16;
	long got;
	int s, id = -ENOENT;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC_);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(req, 0, sizeof(req));
	memcpy(req, &len, 4);
	u16 = 0x10;		/* GENL_ID_CTRL */
	memcpy(req + 4, &u16, 2);
	u16 = 1;		/* NLM_F_REQUEST */
	memcpy(req + 6, &u16, 2);
	req[16] = 3;		/* CTRL_CMD_GETFAMILY */
	req[17] = 1;
	u16 = (uint16_t)alen;
	memcpy(req + 20, &u16, 2);
	u16 = 2;		/* CTRL_ATTR_FAMILY_NAME */
	memcpy(req + 22, &u16, 2);
	memcpy(req + 24, name, nlen);
	if (sendto(s, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		id = -errno;
		close(s);
		return id;
	}
	got = recv(s, reply, sizeof(reply), 0);
	close(s);
	if (got < 0)
		return -errno;
	if (got < 16)
		return -EPROTO;
	memcpy(&len, reply, 4);
	if (len < 16 || len > (uint32_t)got)
		return -EPROTO;
	memcpy(&u16, reply + 4, 2);
	if (u16 == 2) {		/* NLMSG_ERROR */
		int32_t e;

		if (len < 20)
			return -EPROTO;
		memcpy(&e, reply + 16, 4);
		return e ? e : -ENOENT;
	}
	for (off = 20; off + 4 <= len;) {
		uint16_t alen2, type;

		memcpy(&alen2, reply + off, 2);
		memcpy(&type, reply + off + 2, 2);
		if (alen2 < 4 || alen2 > len - off)
			break;
		if ((type & 0x3fff) == 1 && alen2 >= 6) {	/* CTRL_ATTR_FAMILY_ID */
			memcpy(&u16, reply + off + 4, 2);
			return u16;
		}
		off += (alen2 + 3u) & ~3u;
	}
	return id;
}

/* Put the family id into every message the kernel will parse (the agent's set_family). */
static void set_family(unsigned char *msg, uint32_t len, uint16_t id)
{
	uint32_t off = 0;

	while (len - off >= 16) {
		uint32_t mlen;

		memcpy(&mlen, msg + off, 4);
		if (mlen < 16 || mlen > len - off)
			return;
		memcpy(msg + off + 4, &id, 2);
		mlen = (mlen + 3u) & ~3u;
		if (mlen > len - off)
			return;
		off += mlen;
	}
}

/* Send a message as it is; the replies (errors included) are the output. */
static long nl_exchange(long fd, unsigned char *msg, uint32_t len)
{
	struct nl_addr kernel = { AF_NETLINK, 0, 0, 0 };
	long ret, n;
	int i;

	ret = sendto((int)fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	if (ret < 0)
		return ret;
	for (i = 0; i < 4096; i++) {
		n = recv((int)fd, nl_scratch, NL_RECV_MAX, MSG_DONTWAIT);
		if (n <= 0)
			break;
		out_add(nl_scratch, (size_t)n);
	}
	return ret;
}

static long nl_send(long fd, const char *family, unsigned char *msg, uint32_t len)
{
	static const char *names[16];
	static int ids[16];
	int i, id = 0;

	for (i = 0; i < 16 && names[i]; i++)
		if (!strcmp(names[i], family))
			id = ids[i];
	if (!id)
		id = genl_family_id(family);
	if (id <= 0)
		return refuse(ENOENT);
	for (i = 0; i < 16; i++)
		if (!names[i] || !strcmp(names[i], family)) {
			names[i] = family;
			ids[i] = id;
			break;
		}
	set_family(msg, len, (uint16_t)id);
	return nl_exchange(fd, msg, len);
}

static long file_write(long fd, const void *data, size_t len)
{
	long ret;
	int err;

	if (fd < 0)
		return -1;
	ret = write((int)fd, data, len);
	err = errno;
	close((int)fd);
	errno = err;
	return ret;
}

static long do_read(long fd, uint32_t count)
{
	unsigned char *buf = arena_alloc(count, 0);
	long n = read((int)fd, buf, count);

	if (n > 0)
		out_add(buf, (size_t)n);
	return n;
}

static long file_read(long fd, uint32_t count)
{
	long ret;
	int err;

	if (fd < 0)
		return -1;
	ret = do_read(fd, count);
	err = errno;
	close((int)fd);
	errno = err;
	return ret;
}

/* Touching a mapping may get SIGBUS from the driver: that ends the touching only. */
static sigjmp_buf touch_env;
static volatile sig_atomic_t touching;
static uint64_t touched;

static void touch_fault(int sig)
{
	if (!touching) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	touching = 0;
	siglongjmp(touch_env, 1);
}

static void touch_loop(unsigned char *at, uint64_t len, int how)
{
	uint64_t pages = (len + 4095) / 4096;

	if (pages > %(max_touch)d)
		pages = %(max_touch)d;
	for (; touched < pages; touched++) {
		unsigned char *page = at + touched * 4096;

		if (how & 1)
			(void)__atomic_load_n(page, __ATOMIC_RELAXED);
		if (how & 2)
			__atomic_store_n(page, (unsigned char)touched, __ATOMIC_RELAXED);
	}
}

static void touch_pages(unsigned char *at, uint64_t len, int how)
{
	touched = 0;
	signal(SIGBUS, touch_fault);
	signal(SIGSEGV, touch_fault);
	if (!sigsetjmp(touch_env, 1)) {
		touching = 1;
		touch_loop(at, len, how);
	}
	touching = 0;
	signal(SIGBUS, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
}

static long do_mmap(long fd, uint64_t len, uint64_t off, int prot, int flags,
		int how, void **at, uint64_t *at_len)
{
	void *m;

#if SIZE_MAX < UINT64_MAX
	if (len > SIZE_MAX) {	/* the agent's too: a 32-bit length must not wrap */
		errno = ENOMEM;
		return -1;
	}
#endif
	m = mmap(NULL, (size_t)len, prot, flags, (int)fd, (off_t)off);
	if (m == MAP_FAILED)
		return -1;
	*at = m;
	*at_len = len;
	if (how)
		touch_pages(m, len, how);
	return 0;
}

static long do_munmap(void **at, uint64_t len)
{
	long ret;

	if (!*at) {
		errno = EINVAL;
		return -1;
	}
	ret = munmap(*at, len);
	*at = NULL;
	return ret;
}

static long do_poll(long fd, int events)
{
	struct pollfd p = { .fd = (int)fd, .events = (short)events };
	int n = poll(&p, 1, 0);

	return n < 0 ? n : (long)(unsigned short)p.revents;
}
"""

_RUNNER = r"""
/* Run one program in a child, as the agent does; 1 if a call hit the call limit. */
static int run_program(void (*fn)(void), int index)
{
	pid_t pid;
	int status;

	progress->cur = 0;
	progress->start_ns = now_ns();
	pid = fork();
	if (pid < 0) {
		perror("rig-repro: fork");
		exit(1);
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fn();
		_exit(0);
	}
	for (;;) {
		uint32_t cur = __atomic_load_n(&progress->cur, __ATOMIC_ACQUIRE);
		uint64_t start = progress->start_ns, now = now_ns();

		if (waitpid(pid, &status, WNOHANG) == pid)
			return 0;
		if (start < now && now - start > CALL_LIMIT_NS && cur == progress->cur &&
			start == progress->start_ns) {
			uint64_t until = now_ns() + KILL_GRACE_NS;

			kill(pid, SIGKILL);
			while (now_ns() < until && waitpid(pid, &status, WNOHANG) != pid)
				usleep(10000);
			fprintf(stderr, "rig-repro: program %%d call %%u timed out\n", index, cur);
			return 1;
		}
		usleep(1000);
	}
}

int main(int argc, char **argv)
{
	long repeat = 1, i;
	int opt, timed_out = 0;

	while ((opt = getopt(argc, argv, "vn:")) != -1) {
		if (opt == 'v')
			verbose = 1;
		else if (opt == 'n')
			repeat = strtol(optarg, NULL, 0);
		else {
			fprintf(stderr, "usage: %%s [-v] [-n REPEAT (0: forever)]\n", argv[0]);
			return 2;
		}
	}
	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	/* As large as the agent's: a driver reading past a buffer reads zeros there too. */
	/* Children write their own copy-on-write view of it, as the agent's do. */
	arena = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unmapped = (uint64_t)(uintptr_t)mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED || arena == MAP_FAILED || unmapped == (uint64_t)(uintptr_t)MAP_FAILED) {
		perror("rig-repro: mmap");
		return 1;
	}
	for (i = 0; repeat == 0 || i < repeat; i++) {
%(runs)s	}
	return timed_out ? %(timed_out)d : 0;
}
"""


def c_string(data: bytes) -> str:
    """A C string literal of exactly these bytes (octal escapes cannot swallow what follows)."""
    out = []
    for b in data:
        ch = chr(b)
        if ch in '\\"?':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _comment(s: str) -> str:
    return s.replace("*/", "* /").replace("\n", " ")


def _repeated(data: bytes) -> int | None:
    """The byte a long blob repeats, if it is one byte repeated (cheaper as a memset)."""
    if len(data) > 64 and data == data[:1] * len(data):
        return data[0]
    return None


@dataclass
class _Gen:
    config: AgentConfig
    pidx: int
    lines: list[str] = field(default_factory=list)
    statics: list[str] = field(default_factory=list)
    nbuf: int = 0
    ndata: int = 0
    protocols: dict[int, int] = field(default_factory=dict)  # socket call -> its protocol

    def emit(self, line: str, depth: int = 1) -> None:
        self.lines.append("\t" * depth + line)

    def blob(self, data: bytes, writable: bool = False) -> str:
        """A static array holding `data`; its name."""
        name = f"d{self.pidx}_{self.ndata}"
        self.ndata += 1
        size = max(1, len(data))
        const = "" if writable else "const "
        byte = _repeated(data)
        if byte is not None:
            self.statics.append(f"static unsigned char {name}[{size}];")
            self.emit(f"memset({name}, {byte:#04x}, {len(data)});", 2)
        elif data:
            self.statics.append(f"static {const}unsigned char {name}[{size}] = {c_string(data)};")
        else:
            self.statics.append(f"static {const}unsigned char {name}[1];")
        return name

    def fd(self, ref: int) -> str:
        return "NO_FD" if ref == BAD_FD else f"fd[{ref}]"

    def open_expr(self, path: str, flags: str, mode: str) -> str:
        acc = policy.access(self.config, path)
        if acc.refused:
            return f"refuse({acc.refused_errno})"
        if acc.entry is not None:
            rel = path[len(acc.entry) :]
            return (
                f"open_beneath({c_string(acc.entry.encode())}, {c_string(rel.encode())},"
                f" {flags}, {mode})"
            )
        return f"open({c_string(path.encode())}, {flags}, {mode})"

    def place(self, arg: IoctlArg, captured: list[tuple[str, int]]) -> str:
        """Emit the placement of an ioctl argument (the agent's place_arg); its u64 value.

        A u64 as the agent's is: a 32-bit build keeps the kernel address whole
        in an 8-byte pointer, and cuts it (the agent's cast) only to fit less.
        """
        if isinstance(arg, Special):
            return {
                Special.NULL: "0ull",
                Special.UNMAPPED: "unmapped",
                Special.KERNEL: "KERNEL_ADDR",
            }[arg]
        if not isinstance(arg, Buffer):
            return f"{arg:#x}ull"
        var = f"b{self.nbuf}"
        self.nbuf += 1
        crossing = 1 if arg.mapped is not None else 0
        self.emit(f"unsigned char *{var} = arena_alloc({arg.visible}, {crossing});", 2)
        captured.append((var, arg.visible))
        byte = _repeated(arg.data)
        if byte is not None:
            self.emit(f"memset({var}, {byte:#04x}, {len(arg.data)});", 2)
        elif arg.data:
            self.emit(f"memcpy({var}, {c_string(arg.data)}, {len(arg.data)});", 2)
        for r in arg.ptrs:
            value = self.place(r.target, captured)
            self.emit(f"put_ptr({var} + {r.offset}, {value}, {r.width});", 2)
        return f"(uint64_t)(uintptr_t){var}"

    def call(self, i: int, call: Call) -> None:
        line = text.format_call(call)
        label = f"r{i} = " if isinstance(call, Open | NlSocket | Mmap) else ""
        thread = getattr(call, "thread", 0)
        note = f" (thread {thread}: the agent runs every call in order)" if thread else ""
        self.emit(f"/* {i}: {_comment(label + line)}{note} */")
        self.emit("{")
        self.emit(f"begin({i});", 2)
        ret = self.body(i, call)
        self.emit(f"end({self.pidx}, {i}, {ret});", 2)
        self.emit("}")

    def body(self, i: int, call: Call) -> str:
        if isinstance(call, Open):
            expr = self.open_expr(call.path, f"{call.flags:#x}", f"0{call.mode:o}")
            self.emit(f"fd[{i}] = {expr};", 2)
            return f"fd[{i}]"
        if isinstance(call, Close):
            self.emit(f"long ret = close((int){self.fd(call.fd)});", 2)
            if call.fd != BAD_FD:
                self.emit(f"fd[{call.fd}] = NO_FD;", 2)
            return "ret"
        if isinstance(call, Read):
            self.emit(f"long ret = do_read({self.fd(call.fd)}, {call.count});", 2)
            return "ret"
        if isinstance(call, Write):
            name = self.blob(call.data)
            self.emit(f"long ret = write((int){self.fd(call.fd)}, {name}, {len(call.data)});", 2)
            return "ret"
        if isinstance(call, Ioctl):
            captured: list[tuple[str, int]] = []
            value = self.place(call.arg, captured)
            self.emit(
                f"long ret = ioctl((int){self.fd(call.fd)}, {call.cmd:#x}u,"
                f" (unsigned long){value});",
                2,
            )
            if captured:
                self.emit("int err = errno;", 2)
                for var, n in captured:
                    self.emit(f"out_add({var}, {n});", 2)
                self.emit("errno = err;", 2)
            return "ret"
        if isinstance(call, NlSocket):
            self.protocols[i] = call.protocol
            self.emit(f"fd[{i}] = socket(AF_NETLINK, SOCK_RAW, {call.protocol});", 2)
            return f"fd[{i}]"
        if isinstance(call, NlSend):
            raw = RAW_FAMILIES.get(call.family)
            wrong_socket = call.sock != BAD_FD and self.protocols.get(call.sock) != raw
            if not policy.family_allowed(self.config, call.family) or (
                raw is not None and wrong_socket
            ):
                self.emit("long ret = refuse(EPERM);", 2)
                return "ret"
            name = self.blob(call.msg, writable=True)
            if raw is not None:
                self.emit(
                    f"long ret = nl_exchange({self.fd(call.sock)}, {name}, {len(call.msg)});", 2
                )
                return "ret"
            self.emit(
                f"long ret = nl_send({self.fd(call.sock)}, {c_string(call.family.encode())},"
                f" {name}, {len(call.msg)});",
                2,
            )
            return "ret"
        if isinstance(call, FileWrite):
            name = self.blob(call.data)
            self.emit(f"long fdw = {self.open_expr(call.path, 'O_WRONLY', '0')};", 2)
            self.emit(f"long ret = file_write(fdw, {name}, {len(call.data)});", 2)
            return "ret"
        if isinstance(call, FileRead):
            self.emit(f"long fdr = {self.open_expr(call.path, 'O_RDONLY', '0')};", 2)
            self.emit(f"long ret = file_read(fdr, {call.count});", 2)
            return "ret"
        if isinstance(call, Mmap):
            self.emit(
                f"long ret = do_mmap({self.fd(call.fd)}, {call.length:#x}ull, {call.offset:#x}ull,"
                f" {call.prot:#x}, {call.flags:#x}, {call.touch}, &map[{i}], &map_len[{i}]);",
                2,
            )
            return "ret"
        if isinstance(call, Munmap):
            if call.map == BAD_FD:
                self.emit("long ret = (errno = EINVAL, -1L);", 2)
            else:
                self.emit(f"long ret = do_munmap(&map[{call.map}], map_len[{call.map}]);", 2)
            return "ret"
        if isinstance(call, Poll):
            self.emit(f"long ret = do_poll({self.fd(call.fd)}, {call.events:#x});", 2)
            return "ret"
        raise TypeError(f"unknown call {call!r}")


def generate(
    programs: Sequence[Program],
    config: AgentConfig,
    *,
    title: str = "",
    header: text.Header | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The C source of a reproducer running `programs` in order, as the agent would.

    BuildError when the programs are of both ABIs: a reproducer is one
    process, 64- or 32-bit.
    """
    if not programs:
        raise ValueError("a reproducer needs at least one program")
    abi = program_abi(programs)
    head = ["/*"]
    if title:
        head.append(f" * Reproducer for: {_comment(title)}")
        head.append(" *")
    head += [
        " * Generated by rig from a program replayed through its guest agent; needs only libc.",
        f" * Build: {build_command(abi)}    Run (as root, in the guest): ./repro [-v]",
        " * -v prints each call's result; -n N runs the programs N times (0: forever).",
        f" * Exit status {EXIT_TIMED_OUT}: a call hit the {config.call_timeout_s:g}s call limit"
        " (a hang: the kernel's report follows).",
    ]
    if abi == 32:
        head += [
            " * The programs are abi 32: they run as a 32-bit process, so the kernel's",
            " * compat syscalls, and the driver's compat_ioctl, take their calls.",
        ]
    if header is not None and header.driver_hash:
        head.append(f" * Driver: sha256 {header.driver_hash}")
    head += [f" * {_comment(n)}" for n in notes]
    head.append(" */")
    prelude = _PRELUDE % {
        "abi": abi,
        "kernel": KERNEL_ADDR,
        "call_ms": config.call_ms,
        "out_max": MAX_OUTPUT,
        "arena": AGENT_ARENA,
        "max_touch": MAX_TOUCH,
    }
    bodies: list[str] = []
    statics: list[str] = []
    for pidx, program in enumerate(programs):
        gen = _Gen(config, pidx)
        n = max(1, len(program.calls))
        for i, call in enumerate(program.calls):
            gen.call(i, call)
        statics += gen.statics
        bodies.append(
            "\n".join(
                [
                    f"static void program_{pidx}(void)",
                    "{",
                    f"\tstatic long fd[{n}];",
                    f"\tstatic void *map[{n}];",
                    f"\tstatic uint64_t map_len[{n}];",
                    "\tint i;",
                    "",
                    f"\tfor (i = 0; i < {n}; i++)",
                    "\t\tfd[i] = NO_FD;",
                    "\t(void)fd;",
                    "\t(void)map;",
                    "\t(void)map_len;",
                    *gen.lines,
                    "}",
                ]
            )
        )
    runs = "".join(
        f"\t\ttimed_out |= run_program(program_{p}, {p});\n" for p in range(len(programs))
    )
    runner = _RUNNER % {"runs": runs, "timed_out": EXIT_TIMED_OUT}
    parts = ["\n".join(head), prelude, "\n".join(statics), "\n\n".join(bodies), runner]
    return "\n".join(p for p in parts if p)


def program_abi(programs: Sequence[Program]) -> int:
    """The one ABI of a reproducer's programs; BuildError when they have two."""
    abis = {p.abi for p in programs}
    if len(abis) > 1:
        raise BuildError(
            "no C reproducer: its programs are of both ABIs (64 and 32), and a reproducer is"
            " one process of one"
        )
    return abis.pop() if abis else 64


def build_command(abi: int) -> str:
    """How to build a reproducer of programs of this ABI by hand."""
    return " ".join(["gcc", *ABI_CFLAGS[abi], "-static -O1 -o repro repro.c"])


def source_abi(source: str) -> int:
    """The ABI a generated reproducer says its programs are of (RIG_ABI)."""
    m = _ABI_LINE.search(source)
    return int(m.group(1)) if m and int(m.group(1)) in ABI_CFLAGS else 64


def compile_static(source: str, out: Path, cc: str = "gcc") -> Path:
    """Build a reproducer with `cc -static` (and -m32 for abi-32 programs).

    BuildError with the compiler's first error, and for a 32-bit one without
    gcc-multilib, the package.
    """
    if shutil.which(cc) is None:
        raise BuildError(f"{cc} not found: install gcc and libc6-dev to build C reproducers")
    abi = source_abi(source)
    with tempfile.TemporaryDirectory(prefix="rig-repro-cc-") as tmp:
        src = Path(tmp) / "repro.c"
        src.write_text(source)
        built = Path(tmp) / "repro"
        proc = subprocess.run(
            [cc, *ABI_CFLAGS[abi], *CFLAGS, "-o", str(built), str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not built.exists():
            first = next(
                (ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()
            )
            hint = "; a 32-bit build needs gcc-multilib (`rig doctor`)" if abi == 32 else ""
            raise BuildError(f"the C reproducer does not compile: {first[:300]}{hint}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(built, out)
    return out
