// SPDX-License-Identifier: GPL-2.0
/*
 * boundary_trigger NAME: runs the full trigger sequence of one planted bug
 * of the boundary driver (see driver/README.md, driver/bugs.toml). Works
 * with bugs=all too: every sequence configures what it needs first.
 *
 * Built twice: boundary_trigger (native) and boundary_trigger32 (-m32, for
 * the bugs of the driver's compat_ioctl path). The native one hands those
 * bugs to boundary_trigger32 installed beside it, so that every bug's
 * trigger is `boundary_trigger NAME`.
 *
 * Exit status: 0 if the sequence ran to its end (a non-fatal bug, or the
 * bug is off), 1 on a setup failure, 2 on bad usage. Fatal bugs do not
 * return; the two blocking ones (ioctl_lock_leak, nl_dump_spin) block.
 *
 * Triggers live only here, in driver/README.md and in driver/bugs.toml.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/limits.h>

#include "common.h"

/* The same source builds both: boundary_trigger and its -m32 twin. */
#if __SIZEOF_LONG__ == 8
#define PROG	"boundary_trigger"
#else
#define PROG	"boundary_trigger32"
#endif

static const char *bug_name;

static void step(const char *what)
{
	printf(PROG ": %s: %s\n", bug_name, what);
	fflush(stdout);
}

static int fail(const char *what, int err)
{
	printf(PROG ": %s: %s failed: %s\n", bug_name, what,
	       strerror(err < 0 ? -err : err));
	return 1;
}

static int open_configured(uint32_t size)
{
	int fd, ret;

	fd = dev_open();
	if (fd < 0) {
		fail("open " DEV_PATH, errno);
		exit(1);
	}
	ret = dev_config(fd, 0, size, "trigger");
	if (ret) {
		fail("SET_CONFIG", ret);
		exit(1);
	}
	return fd;
}

static int read_status(void)
{
	static char buf[4096];
	ssize_t n;

	step("reading " PROC_DIR "status");
	n = read_file(PROC_DIR "status", buf, sizeof(buf));
	return n < 0 ? fail("read status", n) : 0;
}

static int trig_ioctl_unconfigured(void)
{
	char buf[16] = "x";
	int fd = dev_open();

	if (fd < 0)
		return fail("open", errno);
	step("XFER on a fresh fd");
	return fail("XFER", dev_xfer(fd, buf, 1, BOUNDARY_XFER_IN, NULL));
}

static int trig_ioctl_xfer_overflow(void)
{
	static char buf[128];
	int fd = open_configured(64);

	memset(buf, 'X', sizeof(buf));
	step("XFER copy-in of 65 bytes into a 64-byte buffer");
	return fail("XFER", dev_xfer(fd, buf, 65, BOUNDARY_XFER_IN, NULL));
}

static int trig_ioctl_batch_overflow(void)
{
	/* 32-byte elements; 0x08000001 * 32 wraps to 32 in u32. */
	enum { ELEM = 32, N = 512 };
	static uint64_t elems[N * ELEM / 8];
	struct boundary_batch b = {
		.addr = (uintptr_t)elems, .count = 0x08000001, .elem_size = ELEM,
	};
	int fd = open_configured(64);

	step("BATCH count=0x08000001 elem_size=32");
	if (ioctl(fd, BOUNDARY_IOC_BATCH, &b) < 0)
		return fail("BATCH", errno);
	return fail("BATCH returned", 0);
}

static int trig_ioctl_lock_leak(void)
{
	char buf[8] = "x";
	int fd = open_configured(64);
	int ret;

	step("XFER with op 7");
	ret = dev_xfer(fd, buf, 1, 7, NULL);
	if (ret != -EINVAL)
		return fail("XFER op 7 (wanted EINVAL)", ret ? ret : EPROTO);
	step("XFER copy-in; blocks if the device mutex leaked");
	ret = dev_xfer(fd, buf, 1, BOUNDARY_XFER_IN, NULL);
	return fail("second XFER returned", ret);
}

static int nl_set(struct nl_msg *m)
{
	static char reply[NL_BUF_SIZE];
	struct nl nl;
	int ret;

	ret = nl_open(&nl);
	if (ret)
		return fail("resolve genl family", ret);
	m->nlh->nlmsg_type = nl.family;
	ret = nl_call(&nl, m, reply, sizeof(reply));
	return fail("SET returned", ret);
}

static int trig_nl_missing_attr(void)
{
	struct nl_msg m;

	nl_msg_init(&m, 0, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put_u32(&m, BOUNDARY_A_MODE, BOUNDARY_MODE_CONFIG);
	step("SET with MODE and no LABEL");
	return nl_set(&m);
}

static int trig_nl_blob_overflow(void)
{
	unsigned char blob[128];
	struct nl_msg m;

	memset(blob, 0x41, sizeof(blob));
	nl_msg_init(&m, 0, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put(&m, BOUNDARY_A_BLOB, blob, sizeof(blob));
	step("SET with a 128-byte BLOB of 0x41");
	return nl_set(&m);
}

static int trig_nl_dump_spin(void)
{
	struct nl_msg m;
	struct nl nl;
	int ret;

	ret = nl_open(&nl);
	if (ret)
		return fail("resolve genl family", ret);
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_DUMP_EVENTS);
	nl_put_u32(&m, BOUNDARY_A_CURSOR, 0xffffffff);
	step("DUMP_EVENTS with CURSOR 0xffffffff");
	ret = nl_dump(&nl, &m, NULL, NULL);
	return fail("dump returned", ret < 0 ? ret : 0);
}

static int trig_sysfs_label_overflow(void)
{
	char label[49];
	ssize_t n;

	memset(label, 'A', 48);
	label[48] = '\0';
	step("writing 48 'A's to " SYSFS_DIR "label");
	n = write_str(SYSFS_DIR "label", label);
	if (n < 0)
		return fail("write label", n);
	return read_status() ? 1 : fail("status read returned", 0);
}

static int trig_sysfs_threshold_zero(void)
{
	ssize_t n;

	step("writing 0 to " SYSFS_DIR "threshold");
	n = write_str(SYSFS_DIR "threshold", "0");
	if (n < 0)
		return fail("write threshold", n);
	return read_status() ? 1 : fail("status read returned", 0);
}

static int trig_sysfs_mode_locked(void)
{
	int fd = dev_open();
	ssize_t n;

	if (fd < 0)
		return fail("open", errno);
	step("LOCK");
	if (ioctl(fd, BOUNDARY_IOC_LOCK) < 0)
		return fail("LOCK", errno);
	step("writing 3 to " SYSFS_DIR "mode with the fd still open");
	n = write_str(SYSFS_DIR "mode", "3");
	return fail("write mode returned", n < 0 ? n : 0);
}

static int trig_debugfs_inject_warn(void)
{
	ssize_t n;

	step("writing warn:90 to " DEBUGFS_DIR "inject");
	n = write_str(DEBUGFS_DIR "inject", "warn:90");
	if (n < 0)
		return fail("write inject (bug off?)", n);
	step("done; the guest runs on");
	return 0;
}

static int trig_procfs_double_reset(void)
{
	static char buf[100];
	/* The snapshot (kmalloc-128) and the fd buffer (kmalloc-256) in different caches. */
	int fd = open_configured(256);
	int ret;

	memset(buf, 'S', sizeof(buf));
	step("XFER copy-in of 100 bytes");
	ret = dev_xfer(fd, buf, sizeof(buf), BOUNDARY_XFER_IN, NULL);
	if (ret)
		return fail("XFER", ret);
	step("reset twice via " PROC_DIR "ctl");
	ret = write_str(PROC_DIR "ctl", "reset");
	if (ret < 0)
		return fail("first reset", ret);
	ret = write_str(PROC_DIR "ctl", "reset");
	if (ret < 0)
		return fail("second reset", ret);
	step("done; the guest runs on");
	return 0;
}

static int trig_debugfs_crash_hook(void)
{
	ssize_t n;

	step("writing to " DEBUGFS_DIR "crash_hook");
	n = write_str(DEBUGFS_DIR "crash_hook", "1");
	return fail("write crash_hook returned", n < 0 ? n : 0);
}

#if __SIZEOF_LONG__ == 8
/* Runs bug_name's trigger as a 32-bit process: boundary_trigger32 beside us. */
static int run32(void)
{
	char *argv[] = { "boundary_trigger32", (char *)bug_name, NULL };
	char self[PATH_MAX], twin[PATH_MAX + 2];
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(twin, sizeof(twin), "%s32", self);
		execv(twin, argv);
	}
	execvp(argv[0], argv);
	return fail("exec boundary_trigger32", errno);
}
#endif

/*
 * The bug is in the driver's 32-bit translation of PEEK. Natively the same
 * request must fail with EINVAL; the native build checks that, then runs
 * the 32-bit one, whose PEEK copies 65 bytes out of a kmalloc-64 object.
 */
static int trig_compat_peek_unchecked(void)
{
	static char buf[256];
	int fd = open_configured(64);
	long ret;

	step("PEEK of 65 bytes at offset 0 of a 64-byte buffer");
	ret = dev_peek(fd, buf, 65, 0);
#if __SIZEOF_LONG__ == 8
	if (ret != -EINVAL)
		return fail("native PEEK (wanted EINVAL)", ret < 0 ? ret : EPROTO);
	step("native PEEK: EINVAL; again as a 32-bit process");
	close(fd);
	return run32();
#else
	return fail("PEEK returned", ret < 0 ? ret : 0);
#endif
}

static const struct trigger {
	const char *name;
	int (*run)(void);
} triggers[] = {
	{ "ioctl_unconfigured",		trig_ioctl_unconfigured },
	{ "ioctl_xfer_overflow",	trig_ioctl_xfer_overflow },
	{ "ioctl_batch_overflow",	trig_ioctl_batch_overflow },
	{ "ioctl_lock_leak",		trig_ioctl_lock_leak },
	{ "nl_missing_attr",		trig_nl_missing_attr },
	{ "nl_blob_overflow",		trig_nl_blob_overflow },
	{ "nl_dump_spin",		trig_nl_dump_spin },
	{ "sysfs_label_overflow",	trig_sysfs_label_overflow },
	{ "sysfs_threshold_zero",	trig_sysfs_threshold_zero },
	{ "sysfs_mode_locked",		trig_sysfs_mode_locked },
	{ "debugfs_inject_warn",	trig_debugfs_inject_warn },
	{ "procfs_double_reset",	trig_procfs_double_reset },
	{ "debugfs_crash_hook",		trig_debugfs_crash_hook },
	{ "compat_peek_unchecked",	trig_compat_peek_unchecked },
};

static int usage(void)
{
	size_t i;

	fprintf(stderr, "usage: " PROG " NAME | --list\nnames:");
	for (i = 0; i < ARRAY_SIZE(triggers); i++)
		fprintf(stderr, " %s", triggers[i].name);
	fprintf(stderr, "\n");
	return 2;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc != 2)
		return usage();
	for (i = 0; i < ARRAY_SIZE(triggers); i++) {
		if (!strcmp(argv[1], "--list")) {
			printf("%s\n", triggers[i].name);
			continue;
		}
		if (strcmp(argv[1], triggers[i].name))
			continue;
		bug_name = triggers[i].name;
		return triggers[i].run();
	}
	return strcmp(argv[1], "--list") ? usage() : 0;
}
