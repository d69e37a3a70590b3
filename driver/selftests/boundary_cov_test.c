// SPDX-License-Identifier: GPL-2.0
/*
 * boundary_cov_test: checks the driver's coverage through rig's rigcov module
 * (/sys/kernel/debug/rigcov/cov, vmimages/rigcov/rigcov.h): collection is
 * per task, PCs come back after a call, the same call gives the same PCs,
 * another branch gives others, comparison operands are recorded, overflow
 * is flagged. Prints "cov-hash NAME HEX" lines that must match across boots.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "harness.h"

struct cov {
	struct rigcov_header hdr;
	uint32_t pcs[RIGCOV_MAX_PCS];
	struct rigcov_cmp cmps[RIGCOV_MAX_CMPS];
};

static struct cov cov;

static int cov_open(void)
{
	return open(COV_PATH, O_RDWR);
}

static int cov_read(int fd, struct cov *c)
{
	ssize_t n = pread(fd, c, sizeof(*c), 0);
	size_t want;

	if (n < (ssize_t)sizeof(c->hdr))
		return -1;
	want = sizeof(c->hdr) + c->hdr.npcs * 4;
	if (c->hdr.ncmps) {
		/* cmps follow the pcs without a gap: move them in place. */
		memmove(c->cmps, (char *)c->pcs + c->hdr.npcs * 4,
			c->hdr.ncmps * sizeof(struct rigcov_cmp));
		want += c->hdr.ncmps * sizeof(struct rigcov_cmp);
	}
	return (size_t)n == want ? 0 : -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted unique PCs of c into out; count. */
static int pc_set(const struct cov *c, uint32_t *out)
{
	int i, n = 0;

	memcpy(out, c->pcs, c->hdr.npcs * 4);
	qsort(out, c->hdr.npcs, 4, cmp_u32);
	for (i = 0; i < (int)c->hdr.npcs; i++)
		if (!n || out[n - 1] != out[i])
			out[n++] = out[i];
	return n;
}

static uint32_t fnv(const uint32_t *v, int n)
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < n; i++)
		h = (h ^ v[i]) * 16777619u;
	return h;
}

/* Collects one call into cov; the call gets the device fd. */
static void collect(struct harness_test *_t, int cfd, int dfd,
		    void (*call)(int dfd))
{
	ASSERT_EQ(0, ioctl(cfd, RIGCOV_RESET));
	call(dfd);
	ASSERT_EQ(0, cov_read(cfd, &cov));
	ASSERT_EQ(RIGCOV_MAGIC, cov.hdr.magic);
}

static void call_get_info(int dfd)
{
	struct boundary_info info;

	ioctl(dfd, BOUNDARY_IOC_GET_INFO, &info);
}

static void call_xfer_unconfigured(int dfd)
{
	char c = 'x';

	dev_xfer(dfd, &c, 1, BOUNDARY_XFER_IN, NULL);
}

static void call_xfer_ok(int dfd)
{
	char c = 'x';

	dev_xfer(dfd, &c, 1, BOUNDARY_XFER_IN, NULL);
}

static void call_config_too_big(int dfd)
{
	dev_config(dfd, 0, BOUNDARY_XFER_MAX + 1, "big");
}

static void call_nothing(int dfd)
{
	(void)dfd;
}

static void call_many(int dfd)
{
	int i;

	for (i = 0; i < 3000; i++)
		call_get_info(dfd);
}

TEST(cov_protocol)
{
	int cfd = cov_open(), cfd2 = cov_open();

	ASSERT_OK(cfd);
	ASSERT_OK(cfd2);
	EXPECT_ERRNO(EINVAL, ioctl(cfd, RIGCOV_DISABLE));
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	EXPECT_ERRNO(EBUSY, ioctl(cfd, RIGCOV_ENABLE));
	EXPECT_ERRNO(EBUSY, ioctl(cfd2, RIGCOV_ENABLE));	/* one fd per task */
	EXPECT_ERRNO(ENOTTY, ioctl(cfd, _IO('c', 9)));
	ASSERT_OK(ioctl(cfd, RIGCOV_DISABLE));
	ASSERT_OK(ioctl(cfd2, RIGCOV_ENABLE));
	close(cfd2);		/* closing while enabled is fine */
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	close(cfd);
}

TEST(cov_getinfo_nonempty_and_stable)
{
	static uint32_t a[RIGCOV_MAX_PCS], b[RIGCOV_MAX_PCS];
	int cfd = cov_open(), dfd = dev_open(), na, nb;

	ASSERT_OK(cfd);
	ASSERT_OK(dfd);
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	collect(_t, cfd, dfd, call_nothing);
	EXPECT_EQ(0, cov.hdr.npcs);
	collect(_t, cfd, dfd, call_get_info);
	EXPECT_LE(3, cov.hdr.npcs);
	EXPECT_LE(1, cov.hdr.ncmps);
	EXPECT_EQ(0, cov.hdr.flags);
	na = cov.hdr.npcs;
	memcpy(a, cov.pcs, na * 4);
	collect(_t, cfd, dfd, call_get_info);
	nb = cov.hdr.npcs;
	memcpy(b, cov.pcs, nb * 4);
	/* The same call, the same PCs in the same order. */
	EXPECT_EQ(na, nb);
	EXPECT_EQ(0, memcmp(a, b, na * 4));
	printf("cov-hash get_info %08x npcs=%d\n", fnv(a, na), na);
	close(dfd);
	close(cfd);
}

TEST(cov_branches_differ)
{
	static uint32_t a[RIGCOV_MAX_PCS], b[RIGCOV_MAX_PCS];
	int cfd = cov_open(), dfd = dev_open(), na, nb, i, j, only_b = 0;

	ASSERT_OK(cfd);
	ASSERT_OK(dfd);
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	collect(_t, cfd, dfd, call_xfer_unconfigured);
	na = pc_set(&cov, a);
	ASSERT_EQ(0, dev_config(dfd, 0, 16, "cov"));
	collect(_t, cfd, dfd, call_xfer_ok);
	nb = pc_set(&cov, b);
	for (i = 0, j = 0; j < nb; j++) {
		while (i < na && a[i] < b[j])
			i++;
		only_b += i == na || a[i] != b[j];
	}
	EXPECT_LE(1, only_b);
	EXPECT_NE(fnv(a, na), fnv(b, nb));
	printf("cov-hash xfer_unconfigured %08x\n", fnv(a, na));
	printf("cov-hash xfer_ok %08x\n", fnv(b, nb));
	close(dfd);
	close(cfd);
}

TEST(cov_cmp_operands)
{
	int cfd = cov_open(), dfd = dev_open(), i, found = 0;

	ASSERT_OK(cfd);
	ASSERT_OK(dfd);
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	collect(_t, cfd, dfd, call_config_too_big);
	for (i = 0; i < (int)cov.hdr.ncmps; i++) {
		const struct rigcov_cmp *c = &cov.cmps[i];

		/* The range check may be compiled as "size - 1 > max - 1". */
		if ((c->type & RIGCOV_CMP_CONST) &&
		    (c->type & RIGCOV_CMP_MASK) == RIGCOV_CMP_SIZE(2) &&
		    ((c->arg1 == BOUNDARY_XFER_MAX && c->arg2 == BOUNDARY_XFER_MAX + 1) ||
		     (c->arg1 == BOUNDARY_XFER_MAX - 1 && c->arg2 == BOUNDARY_XFER_MAX)))
			found = 1;
	}
	EXPECT_TRUE(found);
	close(dfd);
	close(cfd);
}

TEST(cov_only_enabled_task)
{
	int cfd = cov_open(), dfd = dev_open(), status;
	pid_t pid;

	ASSERT_OK(cfd);
	ASSERT_OK(dfd);
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	ASSERT_OK(ioctl(cfd, RIGCOV_RESET));
	pid = fork();
	if (!pid) {
		call_many(dfd);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ASSERT_EQ(0, cov_read(cfd, &cov));
	EXPECT_EQ(0, cov.hdr.npcs);
	/* Disabled: nothing either. */
	ASSERT_OK(ioctl(cfd, RIGCOV_DISABLE));
	call_get_info(dfd);
	ASSERT_EQ(0, cov_read(cfd, &cov));
	EXPECT_EQ(0, cov.hdr.npcs);
	close(dfd);
	close(cfd);
}

/* Collection by a task that exits, or outlives every fd, is cleaned up. */
TEST(cov_task_exit_and_orphan)
{
	int cfd = cov_open(), dfd = dev_open(), status, pipefd[2];
	char c;
	pid_t pid;

	ASSERT_OK(cfd);
	ASSERT_OK(dfd);
	pid = fork();
	if (!pid) {
		ioctl(cfd, RIGCOV_ENABLE);
		call_get_info(dfd);
		_exit(0);	/* still enabled */
	}
	waitpid(pid, &status, 0);
	ASSERT_EQ(0, cov_read(cfd, &cov));
	EXPECT_LE(1, cov.hdr.npcs);	/* the child's */
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));	/* taken over from the dead child */
	ASSERT_OK(ioctl(cfd, RIGCOV_DISABLE));

	/* The child collects while the last fd is closed by the parent. */
	ASSERT_OK(pipe(pipefd));
	pid = fork();
	if (!pid) {
		int i;

		ioctl(cfd, RIGCOV_ENABLE);
		close(cfd);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		for (i = 0; i < 2000; i++)
			call_get_info(dfd);
		_exit(0);
	}
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	close(cfd);
	waitpid(pid, &status, 0);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	/* A new fd of this task reaps the orphan. */
	cfd = cov_open();
	ASSERT_OK(cfd);
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	collect(_t, cfd, dfd, call_get_info);
	EXPECT_LE(1, cov.hdr.npcs);
	close(cfd);
	close(dfd);
}

TEST(cov_overflow_and_partial_read)
{
	struct rigcov_header hdr;
	unsigned char head[10];
	uint32_t pc0;
	int cfd = cov_open(), dfd = dev_open();

	ASSERT_OK(cfd);
	ASSERT_OK(dfd);
	ASSERT_OK(ioctl(cfd, RIGCOV_ENABLE));
	collect(_t, cfd, dfd, call_many);
	EXPECT_EQ(RIGCOV_MAX_PCS, cov.hdr.npcs);
	EXPECT_EQ(RIGCOV_MAX_CMPS, cov.hdr.ncmps);
	EXPECT_EQ(RIGCOV_FLAG_PCS_OVERFLOW | RIGCOV_FLAG_CMPS_OVERFLOW, cov.hdr.flags);
	/* Partial reads continue from the file position. */
	ASSERT_EQ(0, lseek(cfd, 0, SEEK_SET));
	ASSERT_EQ(10, read(cfd, head, sizeof(head)));
	ASSERT_EQ(6, read(cfd, (char *)&hdr + 10, 6));
	memcpy(&hdr, head, 10);
	EXPECT_EQ(RIGCOV_MAGIC, hdr.magic);
	EXPECT_EQ(RIGCOV_MAX_PCS, hdr.npcs);
	ASSERT_EQ(4, read(cfd, &pc0, 4));
	EXPECT_EQ(cov.pcs[0], pc0);
	EXPECT_EQ(0, pread(cfd, &pc0, 4, 1 << 30));
	ASSERT_OK(ioctl(cfd, RIGCOV_RESET));
	ASSERT_EQ(0, cov_read(cfd, &cov));
	EXPECT_EQ(0, cov.hdr.npcs);
	EXPECT_EQ(0, cov.hdr.flags);
	close(dfd);
	close(cfd);
}

int main(int argc, char **argv)
{
	if (access(COV_PATH, F_OK)) {
		printf("TAP version 13\n1..0 # SKIP no %s\n", COV_PATH);
		return KSFT_SKIP;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return harness_run(argc, argv, 60);
}
