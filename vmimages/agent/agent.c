// SPDX-License-Identifier: GPL-2.0
/*
 * rig-agent: the guest side of the rig. It executes programs sent by the host
 * over the virtio-serial port named "rig.agent", each in a forked child, and
 * sends back per-call results; it also runs static binaries (reproducers) and
 * benchmarks programs in a loop. Twin of rig/guest/protocol.py and
 * rig/prog/wire.py; the formats are specified in wire.h.
 *
 * Usage: rig-agent [-n PORT_NAME] [-d DEVICE | -f FD] [-k MARKER_FILE] [-c HELPER]
 *		    [-r RDEV]
 *   default: find the port named rig.agent under /sys/class/virtio-ports and
 *   write markers to /dev/kmsg. -f serves an inherited socket instead and
 *   exits when it closes (host-side tests). -c: the 32-bit agent that runs
 *   abi-32 programs (default /bin/rig-agent32, see relay.c). -r: the device
 *   number of the host's channel, which programs may not open; the agent
 *   passes it to its helper, whose own channel is a socket.
 *
 * Everything from the host is untrusted: frames are checked before their
 * payload is read, a malformed request gets an ERROR reply, and garbage is
 * skipped up to the next frame magic.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define PARTIAL_FRAME_MS	1000	/* a frame's bytes arrive back to back */
#define INBUF_KEEP		(64u << 10)

static struct agent agent;
static struct helper helper = { .path = HELPER_PATH, .fd = -1 };

u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

/* ---------------------------------------------------------------- output */

void ob_bytes(struct obuf *o, const void *p, size_t n)
{
	if (o->over || n > o->cap - o->len) {
		o->over = 1;
		return;
	}
	if (n)
		memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void ob_le(struct obuf *o, u64 v, int n)
{
	u8 b[8];
	int i;

	for (i = 0; i < n; i++)
		b[i] = (u8)(v >> (8 * i));
	ob_bytes(o, b, (size_t)n);
}

void ob_u8(struct obuf *o, u8 v) { ob_le(o, v, 1); }
void ob_u16(struct obuf *o, u16 v) { ob_le(o, v, 2); }
void ob_u32(struct obuf *o, u32 v) { ob_le(o, v, 4); }
void ob_u64(struct obuf *o, u64 v) { ob_le(o, v, 8); }

void ob_blob(struct obuf *o, const void *p, u32 n)
{
	ob_u32(o, n);
	ob_bytes(o, p, n);
}

int write_all(int fd, const u8 *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

void begin_reply(struct agent *a, u16 type, u32 tag)
{
	a->out.len = 0;
	a->out.over = 0;
	ob_u32(&a->out, FRAME_MAGIC);
	ob_u16(&a->out, type);
	ob_u16(&a->out, 0);
	ob_u32(&a->out, tag);
	ob_u32(&a->out, 0);	/* length, set by send_reply */
}

void send_reply(struct agent *a, u32 tag)
{
	u32 len = (u32)(a->out.len - FRAME_HDR);
	int i;

	if (a->out.over || len > MAX_REPLY) {
		send_error(a, tag, E_INTERNAL, "reply too large");
		return;
	}
	for (i = 0; i < 4; i++)
		a->out.p[12 + i] = (u8)(len >> (8 * i));
	if (write_all(a->port, a->out.p, a->out.len) && a->exit_on_eof)
		exit(0);
}

void send_error(struct agent *a, u32 tag, u32 code, const char *msg)
{
	begin_reply(a, T_ERROR, tag);
	ob_u32(&a->out, code);
	ob_blob(&a->out, msg, (u32)strlen(msg));
	send_reply(a, tag);
}

/* A line in the kernel log at warning level, for what the host should know. */
void klog(struct agent *a, const char *msg, const char *arg)
{
	char line[256];
	int n;

	if (a->kmsg < 0)
		return;
	n = snprintf(line, sizeof(line), "<4>rig-agent: %s%s\n", msg, arg);
	if (n > 0 && write(a->kmsg, line, (size_t)n) < 0)
		return;
}

void marker(struct agent *a, const char *what, u64 seq)
{
	char line[64];
	int n;

	if (a->kmsg < 0 || (a->configured && (a->cfg->flags & CFG_NO_MARKERS)))
		return;
	n = snprintf(line, sizeof(line), "<5>rig: executing %s %llu\n", what,
		     (unsigned long long)seq);
	if (write(a->kmsg, line, (size_t)n) < 0)
		return;	/* a lost marker must not stop the program */
}

/* ---------------------------------------------------------------- requests */

static void do_hello(struct agent *a, const struct frame *f)
{
	struct utsname u;
	struct rd r;
	u64 nonce;

	rd_init(&r, f->payload, f->len);
	rd_u32(&r);
	nonce = rd_u64(&r);
	if (r.bad || r.pos != r.len) {
		send_error(a, f->tag, E_MALFORMED, "bad hello");
		return;
	}
	a->configured = 0;
	if (uname(&u))
		strcpy(u.release, "?");
	begin_reply(a, T_REPLY | T_HELLO, f->tag);
	ob_u32(&a->out, PROTO_VERSION);
	ob_u64(&a->out, nonce);
	ob_u32(&a->out, (u32)getpid());
	ob_u32(&a->out, MAX_REQUEST);
	ob_u32(&a->out, AGENT_ABI == ABI_32 || helper_ready(a->helper) ? FEAT_ABI32 : 0);
	ob_blob(&a->out, u.release, (u32)strlen(u.release));
	send_reply(a, f->tag);
}

static void do_config(struct agent *a, const struct frame *f)
{
	struct config *next = a->cfg == &a->cfgs[0] ? &a->cfgs[1] : &a->cfgs[0];
	const char *err = decode_config(f->payload, f->len, next);
	int ndenied;
	u32 i;

	if (err) {
		send_error(a, f->tag, E_MALFORMED, err);
		return;
	}
	/* Swapped, not copied: a copy would touch every page of it before each fork. */
	a->cfg = next;
	ndenied = policy_load(&a->pol, a->cfg, a->port_rdev);
	a->configured = 1;
	if (AGENT_ABI == ABI_64)
		helper_config(a->helper, f);
	begin_reply(a, T_REPLY | T_CONFIG, f->tag);
	ob_u16(&a->out, (u16)a->cfg->nfamilies);
	for (i = 0; i < a->cfg->nfamilies; i++)
		ob_u32(&a->out, a->pol.family_id[i]);
	ob_u32(&a->out, (u32)ndenied);
	send_reply(a, f->tag);
}

/*
 * The program after a RUN or BENCH header of hdr bytes; replies itself on
 * error. A program of the other ABI is checked here too, then relayed.
 */
static int take_program(struct agent *a, const struct frame *f, size_t hdr, struct prog *p)
{
	const char *err;

	if (!a->configured) {
		send_error(a, f->tag, E_NOT_CONFIGURED, "no config yet");
		return -1;
	}
	if (f->len < hdr) {
		send_error(a, f->tag, E_MALFORMED, "truncated request");
		return -1;
	}
	err = decode_program(f->payload + hdr, f->len - hdr, p);
	if (err) {
		send_error(a, f->tag, E_MALFORMED, err);
		return -1;
	}
	if (AGENT_ABI == ABI_32 && p->abi != ABI_32) {
		send_error(a, f->tag, E_MALFORMED, "a 32-bit agent runs abi-32 programs only");
		return -1;
	}
	return 0;
}

/* The longest the programs' calls may take, by their limits. */
static u64 calls_ms(const struct agent *a, const struct prog *p)
{
	return (u64)p->ncalls * a->cfg->call_ms + KILL_GRACE_NS / 1000000;
}

static void after_run(struct agent *a, const struct outcome *o)
{
	if (!o->stuck)
		return;
	a->stuck++;
	/* A child that outlived its kill may still write to the old memory. */
	if (shm_renew(a))
		exit(3);
}

static void do_run(struct agent *a, const struct frame *f)
{
	struct outcome o;
	struct rd r;
	u64 seq;

	rd_init(&r, f->payload, f->len);
	seq = rd_u64(&r);
	if (rd_u32(&r) != 0 && !r.bad) {
		send_error(a, f->tag, E_MALFORMED, "unknown run flags");
		return;
	}
	if (take_program(a, f, 12, &a->prog))
		return;
	if (a->prog.abi != AGENT_ABI) {
		relay(a, f, calls_ms(a, &a->prog));
		return;
	}
	run_program(a, &a->prog, seq, &o);
	begin_reply(a, T_REPLY | T_RUN, f->tag);
	encode_result(a, &a->prog, seq, &o);
	send_reply(a, f->tag);
	after_run(a, &o);
}

static void do_bench(struct agent *a, const struct frame *f)
{
	u32 count, max_ms, done = 0, timeouts = 0, died = 0;
	struct outcome o;
	u64 seq, t0;
	struct rd r;

	rd_init(&r, f->payload, f->len);
	seq = rd_u64(&r);
	count = rd_u32(&r);
	max_ms = rd_u32(&r);
	if (!r.bad && (!count || count > MAX_BENCH || !max_ms || max_ms > MAX_CALL_MS)) {
		send_error(a, f->tag, E_MALFORMED, "bench count or time out of range");
		return;
	}
	if (take_program(a, f, 16, &a->prog))
		return;
	if (a->prog.abi != AGENT_ABI) {
		relay(a, f, max_ms + calls_ms(a, &a->prog));
		return;
	}
	t0 = now_ns();
	while (done < count && now_ns() - t0 < max_ms * 1000000ull) {
		run_program(a, &a->prog, seq + done, &o);
		done++;
		timeouts += o.status == P_TIMED_OUT;
		died += o.status == P_DIED;
		after_run(a, &o);
	}
	begin_reply(a, T_REPLY | T_BENCH, f->tag);
	ob_u32(&a->out, done);
	ob_u32(&a->out, timeouts);
	ob_u32(&a->out, died);
	ob_u64(&a->out, now_ns() - t0);
	send_reply(a, f->tag);
}

/* ---------------------------------------------------------------- frames */

static void dispatch(struct agent *a, const struct frame *f)
{
	if (f->flags) {
		send_error(a, f->tag, E_MALFORMED, "unknown frame flags");
		return;
	}
	switch (f->type) {
	case T_HELLO:
		do_hello(a, f);
		return;
	case T_CONFIG:
		do_config(a, f);
		return;
	case T_RUN:
		do_run(a, f);
		return;
	case T_EXEC:
		do_exec(a, f);
		return;
	case T_BENCH:
		do_bench(a, f);
		return;
	}
	send_error(a, f->tag, E_UNKNOWN_TYPE, "unknown request type");
}

struct inbuf {
	u8 *p;
	size_t off, len, cap;
	size_t high;		/* bytes of the buffer touched since the last trim */
	int garbage;		/* skipping bytes that are not a frame */
};

/* Handle every whole frame in the buffer; skip garbage up to the next magic. */
static void consume(struct agent *a, struct inbuf *in)
{
	struct frame f;
	long n;

	while (in->len > in->off) {
		n = frame_scan(in->p + in->off, in->len - in->off, &f);
		if (n == 0)
			return;
		if (n > 0) {
			in->garbage = 0;
			dispatch(a, &f);
			in->off += (size_t)n;
			continue;
		}
		if (!in->garbage)
			send_error(a, 0, n == SCAN_TOO_BIG ? E_TOO_LARGE : E_BAD_FRAME,
				   n == SCAN_TOO_BIG ? "frame too large" : "bad frame magic");
		in->garbage = 1;
		{
			const u8 *next = memchr(in->p + in->off + 1, 'R', in->len - in->off - 1);

			in->off = next ? (size_t)(next - in->p) : in->len;
		}
	}
}

/*
 * Empty the buffer, and give back the pages of a big request: every page the
 * agent keeps is copied (its table entry) and faulted again at each fork.
 */
static void trim(struct inbuf *in)
{
	if (in->high > INBUF_KEEP)
		madvise(in->p + INBUF_KEEP, in->high - INBUF_KEEP, MADV_DONTNEED);
	in->off = in->len = in->high = 0;
}

static void hang_up(struct agent *a, struct inbuf *in)
{
	if (a->exit_on_eof)
		exit(0);
	trim(in);
	usleep(50000);	/* the host is not connected: the port reads EOF */
}

static void serve(struct agent *a, struct inbuf *in)
{
	for (;;) {
		struct pollfd p = { .fd = a->port, .events = POLLIN };
		int partial, r;
		ssize_t n;

		consume(a, in);
		if (in->off == in->len)
			trim(in);
		partial = in->len > in->off;
		r = poll(&p, 1, partial ? PARTIAL_FRAME_MS : -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			send_error(a, 0, E_BAD_FRAME, "incomplete frame dropped");
			trim(in);
			continue;
		}
		if (!(p.revents & POLLIN)) {
			hang_up(a, in);
			continue;
		}
		if (in->off) {
			memmove(in->p, in->p + in->off, in->len - in->off);
			in->len -= in->off;
			in->off = 0;
		}
		n = read(a->port, in->p + in->len, in->cap - in->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			hang_up(a, in);
		else
			in->len += (size_t)n;
		if (in->len > in->high)
			in->high = in->len;
	}
}

/* ---------------------------------------------------------------- setup */

static int find_port(const char *name, char *dev, size_t len)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], buf[256];
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		if (strcmp(buf, name) == 0) {
			snprintf(dev, len, "/dev/%s", e->d_name);
			found = 1;
		}
	}
	closedir(d);
	return found;
}

static int open_port(struct agent *a, const char *name, const char *dev, int fd)
{
	char found[300];
	struct stat st;
	int waited;

	if (fd >= 0) {
		a->exit_on_eof = 1;
		return fd;
	}
	for (waited = 0; !dev; waited++) {
		if (find_port(name, found, sizeof(found)))
			dev = found;
		else if (waited == 50)
			klog(a, "still no virtio port named ", name);
		if (!dev)
			usleep(100000);
	}
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISCHR(st.st_mode))
		a->port_rdev = st.st_rdev;
	return fd;
}

/* What the agent reserves fits a 32-bit process (3 GiB at least) with room to spare. */
_Static_assert((u64)ARENA_SIZE + sizeof(struct shm) + 2 * FRAME_HDR + MAX_REQUEST + MAX_REPLY +
	       MAX_OUTPUT + PAGE < (1ull << 30), "the agent's memory fits a 32-bit process");

static void *reserve(size_t len, int prot)
{
	void *m = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED) {
		perror("rig-agent: mmap");
		exit(2);
	}
	return m;
}

int main(int argc, char **argv)
{
	const char *name = "rig.agent", *dev = NULL, *kmsg = "/dev/kmsg";
	struct agent *a = &agent;
	struct inbuf in = { 0 };
	int opt, fd = -1;

	while ((opt = getopt(argc, argv, "n:d:f:k:c:r:")) != -1) {
		if (opt == 'n')
			name = optarg;
		else if (opt == 'd')
			dev = optarg;
		else if (opt == 'f')
			fd = atoi(optarg);
		else if (opt == 'k')
			kmsg = optarg;
		else if (opt == 'c')
			helper.path = optarg;
		else if (opt == 'r')
			a->port_rdev = (dev_t)strtoull(optarg, NULL, 10);
		else
			return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	a->helper = &helper;
	a->kmsg_path = kmsg;
	a->kmsg = open(kmsg, O_WRONLY | O_CLOEXEC | O_APPEND);
	memset(a->pol.dirfd, -1, sizeof(a->pol.dirfd));
	a->cfg = &a->cfgs[0];
	a->arena = reserve(ARENA_SIZE, PROT_READ | PROT_WRITE);
	a->unmapped = (u64)(uintptr_t)reserve(PAGE, PROT_NONE);
	a->out.cap = FRAME_HDR + MAX_REPLY;
	a->out.p = reserve(a->out.cap, PROT_READ | PROT_WRITE);
	a->exec_out = reserve(MAX_OUTPUT, PROT_READ | PROT_WRITE);
	/* Children never reply themselves: spare the fork and the parent's COW faults. */
	madvise(a->out.p, a->out.cap, MADV_DONTFORK);
	madvise(a->exec_out, MAX_OUTPUT, MADV_DONTFORK);
	in.cap = FRAME_HDR + MAX_REQUEST;
	in.p = reserve(in.cap, PROT_READ | PROT_WRITE);
	if (shm_renew(a))
		return 2;
	a->port = open_port(a, name, dev, fd);
	if (a->port < 0) {
		perror("rig-agent: open port");
		return 1;
	}
	serve(a, &in);
	return 0;
}
