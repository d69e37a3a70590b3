// SPDX-License-Identifier: GPL-2.0
/*
 * boundary_test: ABI test of every door of the boundary driver, for a driver
 * loaded without planted bugs. Valid input must round-trip; invalid input
 * must get the documented error code and no kernel report. TAP output; exit
 * 0 when every test passes, 4 (skip) when planted bugs are enabled.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/genetlink.h>

#include "common.h"
#include "harness.h"

static char text[16384];

static long long status_of(const char *key)
{
	if (read_file(PROC_DIR "status", text, sizeof(text)) < 0)
		return -1;
	return status_value(text, key);
}

/* Every errno a write to a file may legitimately fail with, per file. */
#define EXPECT_WRITE(err, path, s) EXPECT_EQ(-(err), write_str(path, s))

/* ------------------------------------------------------------------ */
/* /dev/boundary: ioctls                                              */

TEST(dev_info_fresh)
{
	struct boundary_info info;
	int fd = dev_open();

	ASSERT_OK(fd);
	memset(&info, 0xff, sizeof(info));
	ASSERT_OK(ioctl(fd, BOUNDARY_IOC_GET_INFO, &info));
	EXPECT_EQ(BOUNDARY_VERSION, info.version);
	EXPECT_EQ(0, info.flags & BOUNDARY_INFO_CONFIGURED);
	EXPECT_EQ(0, info.buffer_size);
	EXPECT_EQ(0, info.bytes_used);
	EXPECT_EQ(0, info.name[0]);
	EXPECT_ERRNO(EFAULT, ioctl(fd, BOUNDARY_IOC_GET_INFO, NULL));
	close(fd);
}

TEST(dev_config_roundtrip)
{
	struct boundary_info info;
	int fd = dev_open();

	ASSERT_OK(fd);
	ASSERT_EQ(0, dev_config(fd, BOUNDARY_CFG_EVENTS, 100, "alpha"));
	ASSERT_OK(ioctl(fd, BOUNDARY_IOC_GET_INFO, &info));
	EXPECT_EQ(BOUNDARY_INFO_CONFIGURED, info.flags & BOUNDARY_INFO_CONFIGURED);
	EXPECT_EQ(100, info.buffer_size);
	EXPECT_EQ(0, info.bytes_used);
	EXPECT_EQ(BOUNDARY_CFG_EVENTS, info.cfg_flags);
	EXPECT_STREQ("alpha", info.name);
	/* Reconfiguring replaces the buffer. */
	ASSERT_EQ(0, dev_config(fd, 0, BOUNDARY_XFER_MAX, "beta"));
	ASSERT_OK(ioctl(fd, BOUNDARY_IOC_GET_INFO, &info));
	EXPECT_EQ(BOUNDARY_XFER_MAX, info.buffer_size);
	EXPECT_STREQ("beta", info.name);
	close(fd);
}

TEST(dev_config_invalid)
{
	struct boundary_config c = { .buffer_size = 64 };
	void *unmapped;
	int fd = dev_open();

	ASSERT_OK(fd);
	EXPECT_EQ(-EINVAL, dev_config(fd, 0, 0, "zero"));
	EXPECT_EQ(-EINVAL, dev_config(fd, 0, BOUNDARY_XFER_MAX + 1, "big"));
	EXPECT_EQ(-EINVAL, dev_config(fd, 0xffffffff, 64, "flags"));
	EXPECT_EQ(-EINVAL, dev_config(fd, 1U << 7, 64, "flags"));
	memset(c.name, 'n', sizeof(c.name));
	EXPECT_ERRNO(EINVAL, ioctl(fd, BOUNDARY_IOC_SET_CONFIG, &c));
	EXPECT_ERRNO(EFAULT, ioctl(fd, BOUNDARY_IOC_SET_CONFIG, NULL));
	unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT_ERRNO(EFAULT, ioctl(fd, BOUNDARY_IOC_SET_CONFIG, unmapped));
	close(fd);
}

TEST(dev_xfer_roundtrip)
{
	char out[64] = {};
	struct boundary_info info;
	uint32_t done = 0;
	int fd = dev_open();

	ASSERT_OK(fd);
	ASSERT_EQ(0, dev_config(fd, 0, 64, "x"));
	ASSERT_EQ(0, dev_xfer(fd, "hello world", 11, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(11, done);
	ASSERT_EQ(0, dev_xfer(fd, out, 64, BOUNDARY_XFER_OUT, &done));
	EXPECT_EQ(11, done);
	EXPECT_STREQ("hello world", out);
	ASSERT_OK(ioctl(fd, BOUNDARY_IOC_GET_INFO, &info));
	EXPECT_EQ(11, info.bytes_used);
	/* Exactly the buffer size is fine. */
	memset(out, 'z', sizeof(out));
	EXPECT_EQ(0, dev_xfer(fd, out, 64, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(64, done);
	EXPECT_EQ(0, dev_xfer(fd, out, 0, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(0, done);
	close(fd);
}

TEST(dev_xfer_append)
{
	char out[17] = {};
	uint32_t done;
	int fd = dev_open();

	ASSERT_OK(fd);
	ASSERT_EQ(0, dev_config(fd, BOUNDARY_CFG_APPEND, 16, "append"));
	EXPECT_EQ(0, dev_xfer(fd, "0123456789", 10, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(0, dev_xfer(fd, "abcdef", 6, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(-ENOSPC, dev_xfer(fd, "!", 1, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(0, dev_xfer(fd, out, 16, BOUNDARY_XFER_OUT, &done));
	EXPECT_EQ(16, done);
	EXPECT_STREQ("0123456789abcdef", out);
	close(fd);
}

TEST(dev_xfer_invalid)
{
	struct boundary_xfer x = {};
	struct boundary_info info;
	char buf[128] = {};
	int fd = dev_open();

	ASSERT_OK(fd);
	/* Not configured yet. */
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 1, BOUNDARY_XFER_IN, NULL));
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 1, BOUNDARY_XFER_OUT, NULL));
	ASSERT_EQ(0, dev_config(fd, 0, 64, "x"));
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 65, BOUNDARY_XFER_IN, NULL));
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 65, BOUNDARY_XFER_OUT, NULL));
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 0xffffffff, BOUNDARY_XFER_IN, NULL));
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 1, 2, NULL));
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 1, 7, NULL));
	EXPECT_EQ(-EINVAL, dev_xfer(fd, buf, 1, 0xffffffff, NULL));
	/* An invalid op must leave the device usable. */
	EXPECT_EQ(0, ioctl(fd, BOUNDARY_IOC_GET_INFO, &info));
	EXPECT_EQ(0, dev_xfer(fd, buf, 1, BOUNDARY_XFER_IN, NULL));
	x.addr = (uintptr_t)buf;
	x.len = 1;
	x.reserved = 1;
	EXPECT_ERRNO(EINVAL, ioctl(fd, BOUNDARY_IOC_XFER, &x));
	EXPECT_EQ(-EFAULT, dev_xfer(fd, NULL, 4, BOUNDARY_XFER_IN, NULL));
	EXPECT_EQ(-EFAULT, dev_xfer(fd, (void *)-4096L, 4, BOUNDARY_XFER_OUT, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(fd, BOUNDARY_IOC_XFER, NULL));
	close(fd);
}

static struct boundary_xfer xfer(void *buf, uint32_t len, uint32_t op)
{
	struct boundary_xfer x = { .addr = (uintptr_t)buf, .len = len, .op = op };

	return x;
}

static int batch(int fd, void *elems, uint32_t count, uint32_t elem_size)
{
	struct boundary_batch b = {
		.addr = (uintptr_t)elems, .count = count, .elem_size = elem_size,
	};
	int ret = ioctl(fd, BOUNDARY_IOC_BATCH, &b);

	return ret < 0 ? -errno : ret;
}

TEST(dev_batch)
{
	struct elem { struct boundary_xfer x; char pad[8]; } e[3] = {};
	char in[] = "batched", out1[16] = {}, out2[16] = {};
	int fd = dev_open();

	ASSERT_OK(fd);
	ASSERT_EQ(0, dev_config(fd, 0, 16, "batch"));
	e[0].x = xfer(in, 7, BOUNDARY_XFER_IN);
	e[1].x = xfer(out1, 16, BOUNDARY_XFER_OUT);
	e[2].x = xfer(out2, 3, BOUNDARY_XFER_OUT);
	EXPECT_EQ(3, batch(fd, e, 3, sizeof(e[0])));
	EXPECT_STREQ("batched", out1);
	EXPECT_STREQ("bat", out2);
	/* Elements of exactly struct boundary_xfer. */
	EXPECT_EQ(1, batch(fd, &e[0].x, 1, sizeof(struct boundary_xfer)));
	EXPECT_EQ(0, batch(fd, e, 0, sizeof(e[0])));
	close(fd);
}

TEST(dev_batch_invalid)
{
	static struct boundary_xfer e[BOUNDARY_BATCH_MAX + 1];
	char buf[16];
	int fd = dev_open(), i;

	ASSERT_OK(fd);
	for (i = 0; i <= BOUNDARY_BATCH_MAX; i++)
		e[i] = xfer(buf, 1, BOUNDARY_XFER_IN);
	EXPECT_EQ(-EINVAL, batch(fd, e, 1, sizeof(e[0])));	/* unconfigured */
	ASSERT_EQ(0, dev_config(fd, 0, 16, "batch"));
	EXPECT_EQ(BOUNDARY_BATCH_MAX, batch(fd, e, BOUNDARY_BATCH_MAX, sizeof(e[0])));
	EXPECT_EQ(-EINVAL, batch(fd, e, BOUNDARY_BATCH_MAX + 1, sizeof(e[0])));
	EXPECT_EQ(-EINVAL, batch(fd, e, 1, 16));
	EXPECT_EQ(-EINVAL, batch(fd, e, 1, 28));
	EXPECT_EQ(-EINVAL, batch(fd, e, 1, BOUNDARY_BATCH_ELEM_MAX + 8));
	/* count * elem_size wraps in 32 bits: refused, not wrapped. */
	EXPECT_EQ(-EINVAL, batch(fd, e, 0x08000001, 32));
	EXPECT_EQ(-EINVAL, batch(fd, e, 0xffffffff, 0xffffffff));
	EXPECT_EQ(-EFAULT, batch(fd, NULL, 2, sizeof(e[0])));
	EXPECT_EQ(-EFAULT, batch(fd, (void *)-4096L, 2, sizeof(e[0])));
	EXPECT_ERRNO(EFAULT, ioctl(fd, BOUNDARY_IOC_BATCH, NULL));
	e[1].op = 5;
	EXPECT_EQ(-EINVAL, batch(fd, e, 2, sizeof(e[0])));
	close(fd);
}

static uint32_t info_flags(int fd)
{
	struct boundary_info info = {};

	ioctl(fd, BOUNDARY_IOC_GET_INFO, &info);
	return info.flags & (BOUNDARY_INFO_LOCKED | BOUNDARY_INFO_LOCK_OWNER);
}

TEST(dev_lock)
{
	int a = dev_open(), b = dev_open();

	ASSERT_OK(a);
	ASSERT_OK(b);
	ASSERT_OK(ioctl(a, BOUNDARY_IOC_LOCK));
	EXPECT_EQ(BOUNDARY_INFO_LOCKED | BOUNDARY_INFO_LOCK_OWNER, info_flags(a));
	EXPECT_EQ(BOUNDARY_INFO_LOCKED, info_flags(b));
	EXPECT_EQ(1, status_of("locked"));
	EXPECT_ERRNO(EBUSY, ioctl(a, BOUNDARY_IOC_LOCK));
	EXPECT_ERRNO(EBUSY, ioctl(b, BOUNDARY_IOC_LOCK));
	EXPECT_ERRNO(EPERM, ioctl(b, BOUNDARY_IOC_UNLOCK));
	/* Exclusive mode needs an unlocked device, through every door. */
	EXPECT_WRITE(EBUSY, SYSFS_DIR "mode", "3");
	EXPECT_WRITE(EBUSY, PROC_DIR "ctl", "mode 3");
	ASSERT_OK(ioctl(a, BOUNDARY_IOC_UNLOCK));
	EXPECT_EQ(0, info_flags(a));
	EXPECT_ERRNO(EINVAL, ioctl(a, BOUNDARY_IOC_UNLOCK));
	/* Closing the owner's fd unlocks. */
	ASSERT_OK(ioctl(a, BOUNDARY_IOC_LOCK));
	close(a);
	EXPECT_EQ(0, info_flags(b));
	/* An exclusive device cannot be locked. */
	EXPECT_EQ(1, write_str(SYSFS_DIR "mode", "3"));
	EXPECT_ERRNO(EBUSY, ioctl(b, BOUNDARY_IOC_LOCK));
	EXPECT_EQ(1, write_str(SYSFS_DIR "mode", "1"));
	close(b);
}

TEST(dev_reset)
{
	struct boundary_info info;
	int fd = dev_open();

	ASSERT_OK(fd);
	ASSERT_EQ(0, dev_config(fd, 0, 32, "reset"));
	ASSERT_OK(ioctl(fd, BOUNDARY_IOC_RESET));
	ASSERT_OK(ioctl(fd, BOUNDARY_IOC_GET_INFO, &info));
	EXPECT_EQ(0, info.flags & BOUNDARY_INFO_CONFIGURED);
	EXPECT_EQ(-EINVAL, dev_xfer(fd, "a", 1, BOUNDARY_XFER_IN, NULL));
	ASSERT_OK(ioctl(fd, BOUNDARY_IOC_RESET));	/* twice is fine */
	close(fd);
}

TEST(dev_unknown_ioctl)
{
	char buf[256] = {};
	int fd = dev_open();

	ASSERT_OK(fd);
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(BOUNDARY_IOC_MAGIC, 0x7f)));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IO(BOUNDARY_IOC_MAGIC, 0)));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IOR('x', 1, int), buf));
	/* Right number, wrong size or direction. */
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IOR(BOUNDARY_IOC_MAGIC, 0x01, int), buf));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IOW(BOUNDARY_IOC_MAGIC, 0x03, struct boundary_xfer), buf));
	EXPECT_ERRNO(ENOTTY, ioctl(fd, 0xffffffff, buf));
	close(fd);
}

/* A user pointer the compiler cannot see is bad. */
static void *bad_ptr(void)
{
	static volatile uintptr_t p = 16;

	return (void *)p;
}

TEST(dev_peek)
{
	char out[64];
	int fd = dev_open();

	ASSERT_OK(fd);
	ASSERT_EQ(0, dev_config(fd, 0, 64, "peek"));
	ASSERT_EQ(0, dev_xfer(fd, "hello world", 11, BOUNDARY_XFER_IN, NULL));
	/* Copies what was written, never beyond it. */
	memset(out, 0, sizeof(out));
	EXPECT_EQ(11, dev_peek(fd, out, 64, 0));
	EXPECT_STREQ("hello world", out);
	memset(out, 0, sizeof(out));
	EXPECT_EQ(5, dev_peek(fd, out, 5, 6));
	EXPECT_STREQ("world", out);
	EXPECT_EQ(3, dev_peek(fd, out, 3, 0));
	EXPECT_EQ(0, dev_peek(fd, out, 10, 11));
	EXPECT_EQ(0, dev_peek(fd, out, 20, 40));
	EXPECT_EQ(0, dev_peek(fd, out, 0, 64));
	EXPECT_EQ(0, dev_peek(fd, NULL, 0, 0));
	/* Peeking moves nothing. */
	EXPECT_EQ(11, dev_peek(fd, out, 64, 0));
	close(fd);
}

/* PEEK's struct in the other ABI: pointer and longs of the other width. */
struct peek_other {
#if __SIZEOF_LONG__ == 8
	uint32_t buf, len, offset;
#else
	uint64_t buf, len, offset;
#endif
};

TEST(dev_peek_invalid)
{
	struct peek_other o;
	char out[128] = {};
	int fd = dev_open();

	ASSERT_OK(fd);
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 1, 0));	/* not configured */
	ASSERT_EQ(0, dev_config(fd, 0, 64, "peek"));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 65, 0));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 128, 0));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 1, 64));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 0, 65));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 60, 5));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, -1UL, 0));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 0x80000000UL, 0));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, 2, -1UL));
	EXPECT_EQ(-EINVAL, dev_peek(fd, out, -1UL, -1UL));
	ASSERT_EQ(0, dev_xfer(fd, "abc", 3, BOUNDARY_XFER_IN, NULL));
	EXPECT_EQ(-EFAULT, dev_peek(fd, NULL, 3, 0));
	EXPECT_EQ(-EFAULT, dev_peek(fd, bad_ptr(), 3, 0));
	EXPECT_ERRNO(EFAULT, ioctl(fd, BOUNDARY_IOC_PEEK, NULL));
	/*
	 * The other ABI's layout: a 64-bit caller's kernel has no 32-bit
	 * PEEK; a 32-bit caller's compat_ioctl passes the 64-bit code to the
	 * native handler, which reads the 64-bit layout.
	 */
	memset(out, 0, sizeof(out));
	o.buf = (uintptr_t)out;
	o.len = 64;
	o.offset = 0;
#if __SIZEOF_LONG__ == 8
	EXPECT_ERRNO(ENOTTY, ioctl(fd, _IOWR(BOUNDARY_IOC_MAGIC, 0x08, struct peek_other), &o));
#else
	EXPECT_EQ(3, ioctl(fd, _IOWR(BOUNDARY_IOC_MAGIC, 0x08, struct peek_other), &o));
	EXPECT_STREQ("abc", out);
	o.len = 65;
	EXPECT_ERRNO(EINVAL, ioctl(fd, _IOWR(BOUNDARY_IOC_MAGIC, 0x08, struct peek_other), &o));
#endif
	close(fd);
}

TEST(dev_read_write)
{
	char buf[BOUNDARY_DATA_SIZE + 16];
	int fd = dev_open();

	ASSERT_OK(fd);
	EXPECT_EQ(6, pwrite(fd, "abcdef", 6, 0));
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(6, pread(fd, buf, 6, 0));
	EXPECT_STREQ("abcdef", buf);
	EXPECT_EQ(6, pwrite(fd, "01234567", 8, BOUNDARY_DATA_SIZE - 6));
	EXPECT_ERRNO(ENOSPC, pwrite(fd, "x", 1, BOUNDARY_DATA_SIZE));
	EXPECT_EQ(0, pread(fd, buf, 16, BOUNDARY_DATA_SIZE));
	EXPECT_EQ(BOUNDARY_DATA_SIZE, lseek(fd, 0, SEEK_END));
	EXPECT_ERRNO(EINVAL, lseek(fd, BOUNDARY_DATA_SIZE + 1, SEEK_SET));
	EXPECT_EQ(0, lseek(fd, 0, SEEK_SET));
	EXPECT_EQ(BOUNDARY_DATA_SIZE, read(fd, buf, sizeof(buf)));
	EXPECT_ERRNO(EFAULT, pwrite(fd, bad_ptr(), 4, 0));
	EXPECT_ERRNO(EFAULT, pread(fd, bad_ptr(), 4, 0));
	close(fd);
}

/* ------------------------------------------------------------------ */
/* sysfs                                                              */

static char big[8192];

static const char *repeat(char c, size_t n)
{
	memset(big, c, n);
	big[n] = '\0';
	return big;
}

TEST(sysfs_mode)
{
	char buf[64];

	EXPECT_EQ(1, write_str(SYSFS_DIR "mode", "2"));
	EXPECT_EQ(2, read_file(SYSFS_DIR "mode", buf, sizeof(buf)));
	EXPECT_STREQ("2\n", buf);
	EXPECT_EQ(4, write_str(SYSFS_DIR "mode", "0x0\n"));
	EXPECT_EQ(0, status_of("mode"));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "mode", "4");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "mode", "abc");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "mode", "-1");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "mode", "1 2");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "mode", "1\n\n");
	EXPECT_WRITE(ERANGE, SYSFS_DIR "mode", "99999999999");
	EXPECT_WRITE(ERANGE, SYSFS_DIR "mode", repeat('1', 5000));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "mode", repeat('z', 4096));
	EXPECT_EQ(1, write_str(SYSFS_DIR "mode", "1"));
}

TEST(sysfs_threshold)
{
	char buf[64];

	EXPECT_EQ(1, write_str(SYSFS_DIR "threshold", "7"));
	EXPECT_EQ(2, read_file(SYSFS_DIR "threshold", buf, sizeof(buf)));
	EXPECT_STREQ("7\n", buf);
	EXPECT_EQ(7, status_of("threshold"));
	EXPECT_EQ(11, write_str(SYSFS_DIR "threshold", "4294967295\n"));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "threshold", "0");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "threshold", "0x0");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "threshold", "-5");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "threshold", "x");
	EXPECT_WRITE(ERANGE, SYSFS_DIR "threshold", "4294967296");
	EXPECT_WRITE(ERANGE, SYSFS_DIR "threshold", repeat('9', 4096));
	EXPECT_EQ(3, write_str(SYSFS_DIR "threshold", "100"));
	EXPECT_LE(0, status_of("ratio"));
}

TEST(sysfs_label)
{
	char buf[128];

	EXPECT_EQ(5, write_str(SYSFS_DIR "label", "hello"));
	EXPECT_EQ(6, read_file(SYSFS_DIR "label", buf, sizeof(buf)));
	EXPECT_STREQ("hello\n", buf);
	read_file(PROC_DIR "status", text, sizeof(text));
	EXPECT_CONTAINS(text, "label: hello\n");
	EXPECT_CONTAINS(text, "owner: sysfs");
	EXPECT_EQ(6, write_str(SYSFS_DIR "label", "hello\n"));
	EXPECT_EQ(31, write_str(SYSFS_DIR "label", repeat('L', 31)));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "label", repeat('L', 32));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "label", repeat('A', 48));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "label", repeat('A', 4096));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "label", repeat('A', 8000));
	EXPECT_WRITE(EINVAL, SYSFS_DIR "label", "a\001b");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "label", "a\nb");
	EXPECT_WRITE(EINVAL, SYSFS_DIR "label", "a\n\n");
	EXPECT_EQ(-EINVAL, write_file(SYSFS_DIR "label", "ab\0cd", 5));
	/* The failed writes left the last good label. */
	read_file(SYSFS_DIR "label", buf, sizeof(buf));
	EXPECT_STREQ(repeat('L', 31), strtok(buf, "\n"));
	EXPECT_EQ(8, write_str(SYSFS_DIR "label", "boundary"));
	read_file(PROC_DIR "status", text, sizeof(text));
	EXPECT_CONTAINS(text, "owner: sysfs");
}

TEST(sysfs_buffer_size)
{
	char buf[64];

	EXPECT_EQ(5, read_file(SYSFS_DIR "buffer_size", buf, sizeof(buf)));
	EXPECT_STREQ("4096\n", buf);
	EXPECT_WRITE(EACCES, SYSFS_DIR "buffer_size", "1");
}

TEST(module_bugs_param_readonly)
{
	EXPECT_WRITE(EACCES, BUGS_PARAM, "all");
}

/* ------------------------------------------------------------------ */
/* procfs                                                             */

TEST(proc_status)
{
	ASSERT_OK(read_file(PROC_DIR "status", text, sizeof(text)));
	EXPECT_EQ(BOUNDARY_VERSION, status_value(text, "version"));
	EXPECT_GE(3, status_value(text, "mode"));
	EXPECT_LE(1, status_value(text, "threshold"));
	EXPECT_CONTAINS(text, "label: ");
	EXPECT_CONTAINS(text, "owner: ");
	EXPECT_LE(0, status_value(text, "ratio"));
	EXPECT_LE(0, status_value(text, "opens"));
	EXPECT_TRUE(write_str(PROC_DIR "status", "x") < 0);
}

TEST(proc_ctl_commands)
{
	uint32_t done;
	int fd = dev_open();

	ASSERT_OK(fd);
	EXPECT_EQ(6, write_str(PROC_DIR "ctl", "mode 2"));
	EXPECT_EQ(2, status_of("mode"));
	EXPECT_EQ(7, write_str(PROC_DIR "ctl", "mode 1\n"));
	EXPECT_EQ(1, status_of("mode"));
	EXPECT_EQ(10, write_str(PROC_DIR "ctl", "echo hello"));
	read_file(PROC_DIR "status", text, sizeof(text));
	EXPECT_CONTAINS(text, "echo: hello\n");
	ASSERT_EQ(0, dev_config(fd, 0, 128, "ctl"));
	ASSERT_EQ(0, dev_xfer(fd, (void *)repeat('s', 100), 100, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(100, status_of("snapshot"));
	EXPECT_LE(100, status_of("bytes_in"));
	EXPECT_EQ(5, write_str(PROC_DIR "ctl", "reset"));
	EXPECT_EQ(0, status_of("snapshot"));
	EXPECT_EQ(0, status_of("bytes_in"));
	/* A second reset finds nothing to drop. */
	EXPECT_EQ(6, write_str(PROC_DIR "ctl", "reset\n"));
	ASSERT_EQ(0, dev_xfer(fd, "t", 1, BOUNDARY_XFER_IN, &done));
	EXPECT_EQ(5, write_str(PROC_DIR "ctl", "reset"));
	close(fd);
}

TEST(proc_ctl_invalid)
{
	char echo[160];

	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "bogus");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "reset now");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "RESET");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "mode");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "mode ");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "mode 4");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "mode x");
	EXPECT_WRITE(ERANGE, PROC_DIR "ctl", "mode 99999999999");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "echo ");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "echo \001");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "reset\n\n");
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", "\n");
	EXPECT_EQ(-EINVAL, write_file(PROC_DIR "ctl", "reset\0x", 7));
	snprintf(echo, sizeof(echo), "echo %.63s", repeat('e', 63));
	EXPECT_EQ(68, write_str(PROC_DIR "ctl", echo));
	snprintf(echo, sizeof(echo), "echo %.64s", repeat('e', 64));
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", echo);
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", repeat('r', 129));
	EXPECT_WRITE(EINVAL, PROC_DIR "ctl", repeat('r', 5000));
	EXPECT_EQ(-EFAULT, write_file(PROC_DIR "ctl", NULL, 5));
	EXPECT_EQ(1, status_of("mode"));
}

/* ------------------------------------------------------------------ */
/* debugfs                                                            */

TEST(debugfs_stats)
{
	ASSERT_OK(read_file(DEBUGFS_DIR "stats", text, sizeof(text)));
	EXPECT_CONTAINS(text, "bugs: none\n");
	EXPECT_LE(0, status_value(text, "injected"));
	EXPECT_TRUE(write_str(DEBUGFS_DIR "stats", "x") < 0);
}

TEST(debugfs_inject)
{
	long long before;

	read_file(DEBUGFS_DIR "stats", text, sizeof(text));
	before = status_value(text, "injected");
	EXPECT_EQ(7, write_str(DEBUGFS_DIR "inject", "event:5"));
	EXPECT_EQ(7, write_str(DEBUGFS_DIR "inject", "warn:3\n"));
	EXPECT_EQ(9, write_str(DEBUGFS_DIR "inject", "warn:0xff"));
	EXPECT_EQ(16, write_str(DEBUGFS_DIR "inject", "event:4294967295"));
	read_file(DEBUGFS_DIR "stats", text, sizeof(text));
	EXPECT_EQ(before + 4, status_value(text, "injected"));
	/* 90 (0x5a) is reserved. */
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "warn:90");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "warn:0x5a");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "warn:256");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "warn:");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "warn");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "warn:-1");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "boom:1");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", ":1");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", "warn:1\n\n");
	EXPECT_WRITE(ERANGE, DEBUGFS_DIR "inject", "event:4294967296");
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", repeat('w', 33));
	EXPECT_WRITE(EINVAL, DEBUGFS_DIR "inject", repeat('w', 5000));
	EXPECT_EQ(-EINVAL, write_file(DEBUGFS_DIR "inject", "warn:1\0", 7));
	EXPECT_EQ(-EFAULT, write_file(DEBUGFS_DIR "inject", NULL, 7));
	read_file(DEBUGFS_DIR "stats", text, sizeof(text));
	EXPECT_EQ(before + 4, status_value(text, "injected"));
}

TEST(debugfs_crash_hook)
{
	EXPECT_WRITE(ENODEV, DEBUGFS_DIR "crash_hook", "1");
	EXPECT_WRITE(ENODEV, DEBUGFS_DIR "crash_hook", repeat('h', 5000));
	EXPECT_TRUE(read_file(DEBUGFS_DIR "crash_hook", text, sizeof(text)) < 0);
}

/* ------------------------------------------------------------------ */
/* generic netlink                                                    */

static char reply[NL_BUF_SIZE];

static struct nl nl_or_die(struct harness_test *_t)
{
	struct nl nl;

	ASSERT_EQ(0, nl_open(&nl));
	return nl;
}

static int nl_simple(struct nl *nl, struct nl_msg *m)
{
	return nl_call(nl, m, reply, sizeof(reply));
}

TEST(nl_family)
{
	struct nl nl = nl_or_die(_t);

	EXPECT_NE(0, nl.family);
	EXPECT_NE(0, nl.events_group);
	nl_close(&nl);
}

TEST(nl_get_status)
{
	struct nlattr *tb[BOUNDARY_A_MAX + 1], *cfg[BOUNDARY_CFG_A_MAX + 1];
	struct nl nl = nl_or_die(_t);
	struct nl_msg m;

	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_GET_STATUS);
	ASSERT_LE(1, nl_simple(&nl, &m));
	nl_parse((struct nlmsghdr *)reply, tb, BOUNDARY_A_MAX);
	ASSERT_TRUE(tb[BOUNDARY_A_MODE] && tb[BOUNDARY_A_THRESHOLD]);
	ASSERT_TRUE(tb[BOUNDARY_A_LABEL] && tb[BOUNDARY_A_LOCKED]);
	ASSERT_TRUE(tb[BOUNDARY_A_XFERS] && tb[BOUNDARY_A_BYTES]);
	ASSERT_TRUE(tb[BOUNDARY_A_BLOB] && tb[BOUNDARY_A_CONFIG]);
	EXPECT_EQ(status_of("mode"), nla_u32(tb[BOUNDARY_A_MODE]));
	EXPECT_EQ(status_of("threshold"), nla_u32(tb[BOUNDARY_A_THRESHOLD]));
	nl_parse_nested(tb[BOUNDARY_A_CONFIG], cfg, BOUNDARY_CFG_A_MAX);
	EXPECT_TRUE(cfg[BOUNDARY_CFG_A_EVENT_MASK] && cfg[BOUNDARY_CFG_A_NOTIFY]);
	nl_close(&nl);
}

TEST(nl_set_roundtrip)
{
	struct nlattr *tb[BOUNDARY_A_MAX + 1], *cfg[BOUNDARY_CFG_A_MAX + 1], *nest;
	struct nl nl = nl_or_die(_t);
	unsigned char blob[BOUNDARY_BLOB_MAX];
	struct nl_msg m;
	char buf[64];
	int i;

	for (i = 0; i < (int)sizeof(blob); i++)
		blob[i] = i + 1;
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put_u32(&m, BOUNDARY_A_MODE, 2);
	nl_put_str(&m, BOUNDARY_A_LABEL, "nl-label");
	nl_put_u32(&m, BOUNDARY_A_THRESHOLD, 55);
	nl_put(&m, BOUNDARY_A_BLOB, blob, sizeof(blob));
	nest = nl_nest_start(&m, BOUNDARY_A_CONFIG);
	nl_put_u32(&m, BOUNDARY_CFG_A_EVENT_MASK, BOUNDARY_EV_MASK_ALL);
	nl_put_u8(&m, BOUNDARY_CFG_A_NOTIFY, 1);
	nl_nest_end(&m, nest);
	ASSERT_EQ(0, nl_simple(&nl, &m));

	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_GET_STATUS);
	ASSERT_LE(1, nl_simple(&nl, &m));
	nl_parse((struct nlmsghdr *)reply, tb, BOUNDARY_A_MAX);
	EXPECT_EQ(2, nla_u32(tb[BOUNDARY_A_MODE]));
	EXPECT_EQ(55, nla_u32(tb[BOUNDARY_A_THRESHOLD]));
	EXPECT_STREQ("nl-label", nla_payload(tb[BOUNDARY_A_LABEL]));
	EXPECT_EQ(sizeof(blob), nla_payload_len(tb[BOUNDARY_A_BLOB]));
	EXPECT_EQ(0, memcmp(blob, nla_payload(tb[BOUNDARY_A_BLOB]), sizeof(blob)));
	nl_parse_nested(tb[BOUNDARY_A_CONFIG], cfg, BOUNDARY_CFG_A_MAX);
	EXPECT_EQ(BOUNDARY_EV_MASK_ALL, nla_u32(cfg[BOUNDARY_CFG_A_EVENT_MASK]));
	read_file(SYSFS_DIR "label", buf, sizeof(buf));
	EXPECT_STREQ("nl-label\n", buf);
	read_file(PROC_DIR "status", text, sizeof(text));
	EXPECT_CONTAINS(text, "owner: netlink");
	EXPECT_EQ(256, status_of("blob"));

	/* MODE alone is a complete request. */
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put_u32(&m, BOUNDARY_A_MODE, 1);
	EXPECT_EQ(0, nl_simple(&nl, &m));
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put_u32(&m, BOUNDARY_A_THRESHOLD, 100);
	nl_put_str(&m, BOUNDARY_A_LABEL, "boundary");
	nl_put(&m, BOUNDARY_A_BLOB, "", 0);
	EXPECT_EQ(0, nl_simple(&nl, &m));
	EXPECT_EQ(1, status_of("mode"));
	EXPECT_EQ(0, status_of("blob"));
	nl_close(&nl);
}

/* A SET with one attribute of the given payload; the result. */
static int nl_set_one(struct nl *nl, uint16_t type, const void *data, size_t len)
{
	struct nl_msg m;

	nl_msg_init(&m, nl->family, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put(&m, type, data, len);
	return nl_simple(nl, &m);
}

static int nl_set_u32(struct nl *nl, uint16_t type, uint32_t v)
{
	return nl_set_one(nl, type, &v, 4);
}

static int nl_set_cfg(struct nl *nl, uint16_t type, const void *data, size_t len)
{
	struct nlattr *nest;
	struct nl_msg m;

	nl_msg_init(&m, nl->family, NLM_F_ACK, BOUNDARY_CMD_SET);
	nest = nl_nest_start(&m, BOUNDARY_A_CONFIG);
	nl_put(&m, type, data, len);
	nl_nest_end(&m, nest);
	return nl_simple(nl, &m);
}

TEST(nl_set_invalid)
{
	struct nl nl = nl_or_die(_t);
	unsigned char blob[BOUNDARY_BLOB_MAX + 1];
	uint32_t mask;
	uint8_t two = 2;
	struct nl_msg m;

	memset(blob, 0x41, sizeof(blob));
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_SET);
	EXPECT_EQ(-EINVAL, nl_simple(&nl, &m));
	EXPECT_STREQ("nothing to set", nl.ext_msg);
	EXPECT_EQ(-ERANGE, nl_set_u32(&nl, BOUNDARY_A_MODE, 4));
	EXPECT_EQ(-ERANGE, nl_set_u32(&nl, BOUNDARY_A_MODE, 0xffffffff));
	EXPECT_EQ(-ERANGE, nl_set_u32(&nl, BOUNDARY_A_THRESHOLD, 0));
	/* Wrong sizes are -EINVAL in strict validation, range errors -ERANGE. */
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_MODE, "ab", 2));
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_MODE, "abcdefgh", 8));
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_LABEL, repeat('L', 32), 33));
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_LABEL, repeat('A', 48), 48));
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_LABEL, "abc", 3));
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_LABEL, "a\001c", 4));
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_LABEL, "", 0));
	EXPECT_EQ(-ERANGE, nl_set_one(&nl, BOUNDARY_A_BLOB, blob, sizeof(blob)));
	EXPECT_EQ(-EINVAL, nl_set_u32(&nl, BOUNDARY_A_LOCKED, 1));
	EXPECT_EQ(-EINVAL, nl_set_u32(&nl, BOUNDARY_A_EVENT, 1));
	EXPECT_EQ(-EINVAL, nl_set_u32(&nl, BOUNDARY_A_PAD, 1));
	EXPECT_EQ(-EINVAL, nl_set_u32(&nl, BOUNDARY_A_MAX + 1, 1));
	EXPECT_EQ(-EINVAL, nl_set_u32(&nl, 0x3fff, 1));
	EXPECT_EQ(-EINVAL, nl_set_one(&nl, BOUNDARY_A_CONFIG, "abcd", 4));
	mask = 1;	/* BOUNDARY_EV_NONE is not an event */
	EXPECT_EQ(-EINVAL, nl_set_cfg(&nl, BOUNDARY_CFG_A_EVENT_MASK, &mask, 4));
	mask = 1U << 31;
	EXPECT_EQ(-EINVAL, nl_set_cfg(&nl, BOUNDARY_CFG_A_EVENT_MASK, &mask, 4));
	EXPECT_EQ(-ERANGE, nl_set_cfg(&nl, BOUNDARY_CFG_A_NOTIFY, &two, 1));
	EXPECT_EQ(-EINVAL, nl_set_cfg(&nl, BOUNDARY_CFG_A_MAX + 1, &two, 1));
	/* Nothing above changed anything. */
	EXPECT_EQ(1, status_of("mode"));
	EXPECT_EQ(100, status_of("threshold"));
	nl_close(&nl);
}

TEST(nl_blob_max)
{
	struct nlattr *tb[BOUNDARY_A_MAX + 1];
	unsigned char blob[BOUNDARY_BLOB_MAX];
	struct nl nl = nl_or_die(_t);
	struct nl_msg m;

	memset(blob, 0x41, sizeof(blob));
	EXPECT_EQ(0, nl_set_one(&nl, BOUNDARY_A_BLOB, blob, 96));
	EXPECT_EQ(0, nl_set_one(&nl, BOUNDARY_A_BLOB, blob, sizeof(blob)));
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_GET_STATUS);
	ASSERT_LE(1, nl_simple(&nl, &m));
	nl_parse((struct nlmsghdr *)reply, tb, BOUNDARY_A_MAX);
	EXPECT_EQ(sizeof(blob), nla_payload_len(tb[BOUNDARY_A_BLOB]));
	EXPECT_EQ(0, nl_set_one(&nl, BOUNDARY_A_BLOB, blob, 0));
	nl_close(&nl);
}

TEST(nl_echo)
{
	struct nlattr *tb[BOUNDARY_A_MAX + 1];
	unsigned char data[BOUNDARY_ECHO_MAX + 1];
	struct nl nl = nl_or_die(_t);
	struct nl_msg m;
	int i;

	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = i * 7;
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_ECHO);
	nl_put(&m, BOUNDARY_A_ECHO, data, BOUNDARY_ECHO_MAX);
	ASSERT_LE(1, nl_simple(&nl, &m));
	nl_parse((struct nlmsghdr *)reply, tb, BOUNDARY_A_MAX);
	ASSERT_TRUE(tb[BOUNDARY_A_ECHO]);
	EXPECT_EQ(BOUNDARY_ECHO_MAX, nla_payload_len(tb[BOUNDARY_A_ECHO]));
	EXPECT_EQ(0, memcmp(data, nla_payload(tb[BOUNDARY_A_ECHO]), BOUNDARY_ECHO_MAX));
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_ECHO);
	nl_put(&m, BOUNDARY_A_ECHO, data, 0);
	EXPECT_LE(1, nl_simple(&nl, &m));
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_ECHO);
	EXPECT_EQ(-EINVAL, nl_simple(&nl, &m));
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_ECHO);
	nl_put(&m, BOUNDARY_A_ECHO, data, sizeof(data));
	EXPECT_EQ(-ERANGE, nl_simple(&nl, &m));
	nl_close(&nl);
}

struct dump_seen {
	int n;
	uint32_t seq[64], type[64], value[64];
};

static void dump_cb(struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[BOUNDARY_A_MAX + 1], *ev[BOUNDARY_EV_A_MAX + 1];
	struct dump_seen *s = arg;

	nl_parse(nlh, tb, BOUNDARY_A_MAX);
	if (!tb[BOUNDARY_A_EVENT] || s->n >= 64)
		return;
	nl_parse_nested(tb[BOUNDARY_A_EVENT], ev, BOUNDARY_EV_A_MAX);
	s->seq[s->n] = ev[BOUNDARY_EV_A_SEQ] ? nla_u32(ev[BOUNDARY_EV_A_SEQ]) : 0;
	s->type[s->n] = ev[BOUNDARY_EV_A_TYPE] ? nla_u32(ev[BOUNDARY_EV_A_TYPE]) : 0;
	s->value[s->n] = ev[BOUNDARY_EV_A_VALUE] ? nla_u32(ev[BOUNDARY_EV_A_VALUE]) : 0;
	s->n++;
}

static int dump_events(struct nl *nl, const uint32_t *cursor, struct dump_seen *s)
{
	struct nl_msg m;

	memset(s, 0, sizeof(*s));
	nl_msg_init(&m, nl->family, 0, BOUNDARY_CMD_DUMP_EVENTS);
	if (cursor)
		nl_put_u32(&m, BOUNDARY_A_CURSOR, *cursor);
	return nl_dump(nl, &m, dump_cb, s);
}

TEST(nl_dump_events)
{
	struct nl nl = nl_or_die(_t);
	struct dump_seen s;
	uint32_t cursor;
	char cmd[32];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(cmd, sizeof(cmd), "event:%d", 1000 + i);
		ASSERT_LE(1, write_str(DEBUGFS_DIR "inject", cmd));
	}
	ASSERT_LE(5, dump_events(&nl, NULL, &s));
	for (i = 1; i < s.n; i++)
		EXPECT_EQ(s.seq[i - 1] + 1, s.seq[i]);
	EXPECT_EQ(BOUNDARY_EV_INJECT, s.type[s.n - 1]);
	EXPECT_EQ(1004, s.value[s.n - 1]);
	EXPECT_EQ(1002, s.value[s.n - 3]);
	cursor = s.seq[s.n - 3];	/* seen up to event 1002 */
	EXPECT_EQ(2, dump_events(&nl, &cursor, &s));
	EXPECT_EQ(1003, s.value[0]);
	EXPECT_EQ(1004, s.value[1]);
	cursor = s.seq[1];
	EXPECT_EQ(0, dump_events(&nl, &cursor, &s));
	cursor = 0xffffffff;
	EXPECT_EQ(0, dump_events(&nl, &cursor, &s));
	cursor = 0xfffffffe;
	EXPECT_EQ(0, dump_events(&nl, &cursor, &s));
	cursor = 0;
	EXPECT_LE(5, dump_events(&nl, &cursor, &s));
	/* The ring keeps the newest 32. */
	for (i = 0; i < 40; i++)
		write_str(DEBUGFS_DIR "inject", "event:1");
	EXPECT_EQ(32, dump_events(&nl, NULL, &s));
	nl_close(&nl);
}

TEST(nl_dump_invalid)
{
	struct nl nl = nl_or_die(_t);
	struct nl_msg m;

	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_DUMP_EVENTS);
	nl_put(&m, BOUNDARY_A_CURSOR, "ab", 2);
	EXPECT_EQ(-EINVAL, nl_dump(&nl, &m, NULL, NULL));
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_DUMP_EVENTS);
	nl_put_u32(&m, BOUNDARY_A_XFERS, 1);
	EXPECT_EQ(-EINVAL, nl_dump(&nl, &m, NULL, NULL));
	/* Commands without a dump. */
	nl_msg_init(&m, nl.family, 0, BOUNDARY_CMD_ECHO);
	EXPECT_EQ(-EOPNOTSUPP, nl_dump(&nl, &m, NULL, NULL));
	nl_close(&nl);
}

TEST(nl_multicast)
{
	struct nlattr *tb[BOUNDARY_A_MAX + 1], *ev[BOUNDARY_EV_A_MAX + 1];
	struct nl nl = nl_or_die(_t);
	struct nlmsghdr *nlh = (struct nlmsghdr *)reply;
	int n, found = 0;

	ASSERT_EQ(0, nl_join_events(&nl));
	ASSERT_LE(1, write_str(DEBUGFS_DIR "inject", "event:777"));
	while (!found && (n = nl_recv(&nl, reply, sizeof(reply), 2000)) > 0) {
		struct genlmsghdr *g = NLMSG_DATA(nlh);

		if (nlh->nlmsg_type != nl.family || g->cmd != BOUNDARY_CMD_EVENT)
			continue;
		nl_parse(nlh, tb, BOUNDARY_A_MAX);
		if (!tb[BOUNDARY_A_EVENT])
			continue;
		nl_parse_nested(tb[BOUNDARY_A_EVENT], ev, BOUNDARY_EV_A_MAX);
		found = ev[BOUNDARY_EV_A_VALUE] &&
			nla_u32(ev[BOUNDARY_EV_A_VALUE]) == 777 &&
			nla_u32(ev[BOUNDARY_EV_A_TYPE]) == BOUNDARY_EV_INJECT;
	}
	EXPECT_TRUE(found);
	nl_close(&nl);
}

TEST(nl_unknown_and_malformed)
{
	struct nl nl = nl_or_die(_t);
	struct nl_msg m;
	struct genlmsghdr *g;

	nl_msg_init(&m, nl.family, NLM_F_ACK, 99);
	EXPECT_EQ(-EOPNOTSUPP, nl_simple(&nl, &m));
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_EVENT);
	EXPECT_EQ(-EOPNOTSUPP, nl_simple(&nl, &m));
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_UNSPEC);
	EXPECT_EQ(-EOPNOTSUPP, nl_simple(&nl, &m));
	/* An attribute claiming more bytes than the message has. */
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put_u32(&m, BOUNDARY_A_THRESHOLD, 5);
	((struct nlattr *)((char *)NLMSG_DATA(m.nlh) + GENL_HDRLEN))->nla_len = 200;
	EXPECT_EQ(-EINVAL, nl_simple(&nl, &m));
	/* Trailing garbage shorter than an attribute header. */
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_SET);
	nl_put_u32(&m, BOUNDARY_A_THRESHOLD, 100);
	m.nlh->nlmsg_len += 2;
	EXPECT_EQ(-EINVAL, nl_simple(&nl, &m));
	/* Reserved byte of the genl header. */
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_GET_STATUS);
	g = NLMSG_DATA(m.nlh);
	g->reserved = 1;
	EXPECT_EQ(-EINVAL, nl_simple(&nl, &m));
	/* No genl header at all. */
	nl_msg_init(&m, nl.family, NLM_F_ACK, BOUNDARY_CMD_GET_STATUS);
	m.nlh->nlmsg_len = NLMSG_HDRLEN;
	EXPECT_EQ(-EINVAL, nl_simple(&nl, &m));
	nl_close(&nl);
}

/* ------------------------------------------------------------------ */
/* Nothing above may have made the kernel report anything.            */

/* Starts of the first line of kernel reports, as the rig's console watcher sees them. */
static const char *const report_markers[] = {
	"BUG:", "BUG ", "WARNING:", "Oops", "general protection fault",
	"divide error", "kernel BUG at", "Kernel panic", "usercopy:",
	"watchdog: BUG", "INFO: task", "INFO: rcu", "list_add corruption",
	"list_del corruption", "UBSAN:", "invalid opcode", "------------[ cut here ]",
};

TEST(no_kernel_report)
{
	static char line[8192];
	unsigned long tainted = 0;
	const char *msg;
	size_t i;
	ssize_t n;
	FILE *f;
	int fd;

	f = fopen("/proc/sys/kernel/tainted", "r");
	ASSERT_TRUE(f);
	ASSERT_EQ(1, fscanf(f, "%lu", &tainted));
	fclose(f);
	/* B (bad page), D (died), W (warning), L (soft lockup). */
	EXPECT_EQ(0, tainted & ((1 << 5) | (1 << 7) | (1 << 9) | (1 << 14)));

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_OK(fd);
	while ((n = read(fd, line, sizeof(line) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n < 0)
			continue;
		line[n] = '\0';
		msg = strchr(line, ';');
		msg = msg ? msg + 1 : line;
		for (i = 0; i < ARRAY_SIZE(report_markers); i++)
			_CHECK(strncmp(msg, report_markers[i], strlen(report_markers[i])),
			       0, "kernel log: %s", msg);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	char bugs[512];
	ssize_t n;

	n = read_file(BUGS_PARAM, bugs, sizeof(bugs));
	if (n < 0) {
		printf("TAP version 13\n1..0 # SKIP boundary is not loaded (%s)\n",
		       strerror(-n));
		return KSFT_SKIP;
	}
	if (n > 1 && strcmp(bugs, "\n") && strcmp(bugs, "(null)\n")) {
		printf("TAP version 13\n1..0 # SKIP planted bugs enabled: %s", bugs);
		return KSFT_SKIP;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return harness_run(argc, argv, 20);
}
