// SPDX-License-Identifier: GPL-2.0
/*
 * boundary_stress [SECONDS] [SEED]: random input to every door of the
 * boundary driver from three processes at once, for a driver loaded without
 * planted bugs. It checks nothing itself: the kernel must stay silent, which
 * the console (driver/selftests/vmcheck.py) and boundary_test's last test
 * check. Never touches the coverage file or module parameters.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>

#include "common.h"

#define NPROC	3
#define NFDS	4

static uint64_t rng;
static unsigned char *buf;	/* 2 pages; the second one is PROT_NONE */
static int fds[NFDS];
static struct nl nl;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t pick(uint32_t n)
{
	return n ? rnd() % n : 0;
}

/* Interesting 32-bit values: limits of every field the driver checks. */
static uint32_t num(void)
{
	static const uint32_t v[] = {
		0, 1, 2, 3, 4, 7, 16, 23, 24, 31, 32, 33, 48, 63, 64, 65, 90,
		100, 128, 255, 256, 257, 1023, 1024, 1025, 4095, 4096, 4097,
		0x08000001, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	};

	return pick(4) ? v[pick(ARRAY_SIZE(v))] : (uint32_t)rnd();
}

/* A user pointer: into buf, at its end, into the unmapped page, NULL, kernel. */
static uint64_t ptr(void)
{
	switch (pick(8)) {
	case 0:
		return 0;
	case 1:
		return (uintptr_t)buf + 4096 - pick(64);	/* crosses into PROT_NONE */
	case 2:
		return 0xffffffff81000000ULL;
	case 3:
		return rnd();
	default:
		return (uintptr_t)buf + pick(2048);
	}
}

static void fill(unsigned char *p, size_t n)
{
	size_t i;
	int c = pick(3);

	for (i = 0; i < n; i++)
		p[i] = c == 0 ? 'A' : c == 1 ? (unsigned char)"0123456789 abcx\n:"[pick(17)] : (unsigned char)rnd();
}

static int fd(void)
{
	int i = pick(NFDS);

	if (fds[i] < 0 || !pick(50)) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = dev_open();
	}
	return fds[i];
}

static void fill_xfer(struct boundary_xfer *x)
{
	x->addr = ptr();
	x->len = pick(3) ? pick(130) : num();
	x->op = pick(4) ? pick(2) : num();
	x->done = 0;
	x->reserved = pick(20) ? 0 : num();
}

static void do_ioctl(void)
{
	static const unsigned long cmds[] = {
		BOUNDARY_IOC_GET_INFO, BOUNDARY_IOC_SET_CONFIG, BOUNDARY_IOC_XFER,
		BOUNDARY_IOC_BATCH, BOUNDARY_IOC_LOCK, BOUNDARY_IOC_UNLOCK,
		BOUNDARY_IOC_RESET, BOUNDARY_IOC_PEEK,
	};
	unsigned long cmd = pick(10) ? cmds[pick(ARRAY_SIZE(cmds))] : num();
	unsigned char *arg = buf + pick(1024);
	struct boundary_config *c = (void *)arg;
	struct boundary_batch *b = (void *)arg;
	struct boundary_peek *p = (void *)arg;
	uint32_t i, n;

	fill(arg, 256);
	if (cmd == BOUNDARY_IOC_SET_CONFIG) {
		c->flags = pick(3) ? pick(4) : num();
		c->buffer_size = pick(3) ? 1 + pick(256) : num();
		c->name[pick(3) ? pick(32) : 0] = pick(8) ? 0 : 'x';
	} else if (cmd == BOUNDARY_IOC_XFER) {
		fill_xfer((void *)arg);
	} else if (cmd == BOUNDARY_IOC_BATCH) {
		b->addr = (uintptr_t)buf + 1024 + 8 * pick(64);
		b->count = pick(3) ? pick(70) : num();
		b->elem_size = pick(3) ? 8 * pick(34) : num();
		n = b->elem_size >= 24 && b->elem_size <= 256 ? 2048 / b->elem_size : 0;
		for (i = 0; i < n && i < 64; i++)
			fill_xfer((void *)(buf + 1024 + 8 * pick(64)));
		if (!pick(10))
			b->addr = ptr();
	} else if (cmd == BOUNDARY_IOC_PEEK) {
		p->buf = (void *)(uintptr_t)ptr();
		p->len = pick(3) ? pick(300) : num();
		p->offset = pick(3) ? pick(300) : num();
	}
	ioctl(fd(), cmd, pick(10) ? (uintptr_t)arg : ptr());
}

static void do_rw(void)
{
	int f = fd();
	size_t n = pick(3) ? pick(200) : num() % 10000;
	off_t off = pick(3) ? pick(4200) : (off_t)num();

	if (pick(2)) {
		fill(buf, 2048);
		pwrite(f, (void *)(uintptr_t)(pick(8) ? (uintptr_t)buf : ptr()), n, off);
	} else {
		pread(f, (void *)(uintptr_t)(pick(8) ? (uintptr_t)buf : ptr()), n, off);
	}
	if (!pick(20))
		lseek(f, (off_t)num(), pick(3));
}

static const char *const files[] = {
	SYSFS_DIR "mode", SYSFS_DIR "threshold", SYSFS_DIR "label",
	SYSFS_DIR "buffer_size", PROC_DIR "status", PROC_DIR "ctl",
	DEBUGFS_DIR "stats", DEBUGFS_DIR "inject", DEBUGFS_DIR "crash_hook",
};

static const char *const words[] = {
	"reset", "mode ", "echo ", "warn:", "event:", "0", "1", "2", "3", "90",
	"0x5a", "4294967295", "-1", "\n", " ", ":", "\0", "AAAAAAAAAAAAAAAA",
};

static void do_file(void)
{
	const char *path = files[pick(ARRAY_SIZE(files))];
	static char text[8192];
	size_t len = 0, n;

	if (pick(3) == 0) {
		read_file(path, text, sizeof(text));
		return;
	}
	if (pick(4)) {
		while (len < 200 && pick(4)) {
			const char *w = words[pick(ARRAY_SIZE(words))];

			n = strlen(w) ? strlen(w) : 1;
			memcpy(text + len, w, n);
			len += n;
		}
		if (pick(2))
			len += snprintf(text + len, 20, "%u", num());
	} else {
		len = pick(2) ? pick(64) : pick(6000);
		fill((unsigned char *)text, len);
	}
	write_file(path, text, len);
}

static void put_random_attr(struct nl_msg *m)
{
	unsigned char data[1100];
	uint16_t type = pick(8) ? 1 + pick(BOUNDARY_A_MAX + 1) : num() & 0x3fff;
	size_t len = pick(4) ? 4 : pick(2) ? pick(40) : pick(sizeof(data));
	struct nlattr *nest;

	fill(data, sizeof(data));
	if (len == 4 && pick(2))
		*(uint32_t *)data = num();
	if (type == BOUNDARY_A_LABEL && pick(2)) {
		len = 1 + pick(40);
		data[len - 1] = 0;
	}
	if (type == BOUNDARY_A_CONFIG && pick(3)) {
		nest = nl_nest_start(m, type);
		if (pick(2))
			nl_put_u32(m, BOUNDARY_CFG_A_EVENT_MASK, num());
		if (pick(2))
			nl_put_u8(m, BOUNDARY_CFG_A_NOTIFY, pick(3));
		nl_nest_end(m, nest);
		return;
	}
	nl_put(m, type, data, len);
}

static void do_netlink(void)
{
	static char reply[NL_BUF_SIZE];
	struct nl_msg m;
	uint8_t cmd = pick(8) ? 1 + pick(4) : num();
	int i, n = pick(5);

	nl_msg_init(&m, nl.family, NLM_F_ACK, cmd);
	for (i = 0; i < n; i++)
		put_random_attr(&m);
	if (!pick(20))
		m.nlh->nlmsg_len += pick(8);
	if (!pick(20) && m.nlh->nlmsg_len > NLMSG_HDRLEN + GENL_HDRLEN)
		((unsigned char *)m.nlh)[NLMSG_HDRLEN + GENL_HDRLEN + pick(8)] = rnd();
	if (cmd == BOUNDARY_CMD_DUMP_EVENTS && pick(2))
		nl_dump(&nl, &m, NULL, NULL);
	else
		nl_call(&nl, &m, reply, sizeof(reply));
}

static void worker(int id, time_t end, uint64_t seed)
{
	int i;

	rng = seed * 0x9e3779b97f4a7c15ULL + id + 1;
	for (i = 0; i < NFDS; i++)
		fds[i] = -1;
	if (nl_open(&nl))
		_exit(1);
	while (time(NULL) < end) {
		switch (pick(4)) {
		case 0:
			do_ioctl();
			break;
		case 1:
			do_rw();
			break;
		case 2:
			do_file();
			break;
		default:
			do_netlink();
		}
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int secs = argc > 1 ? atoi(argv[1]) : 20, i, status, bad = 0;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
	time_t end = time(NULL) + secs;

	buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || mprotect(buf + 4096, 4096, PROT_NONE))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < NPROC; i++)
		if (!fork())
			worker(i, end, seed);
	for (i = 0; i < NPROC; i++) {
		wait(&status);
		bad += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	/* Leave the device as boundary_test expects it. */
	write_str(SYSFS_DIR "mode", "1");
	write_str(SYSFS_DIR "threshold", "100");
	write_str(SYSFS_DIR "label", "boundary");
	printf("boundary_stress: %d s, seed %llu, %d worker(s) failed\n", secs,
	       (unsigned long long)seed, bad);
	return bad ? 1 : 0;
}
