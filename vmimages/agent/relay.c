// SPDX-License-Identifier: GPL-2.0
/*
 * abi-32 programs in a 64-bit agent: a 64-bit process makes no compat
 * syscalls, so a driver's compat_ioctl runs only for a 32-bit caller. The
 * 64-bit agent hands such programs to rig-agent32 (these sources built with
 * -m32), started when the first one comes, on a socketpair: first the last
 * CONFIG the host sent, then the RUN or BENCH frame as it came. The helper's
 * reply frame goes to the host as it came.
 *
 * The helper decodes and checks the program itself, as any agent does; this
 * side only checks that the helper answers in time with a frame of the
 * request's tag and a length the host accepts. A helper that is missing,
 * dies or breaks that rule costs the request an ERROR reply (E_HELPER)
 * saying why; the next abi-32 request starts a new one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define HELPER_SLACK_MS	2000ull	/* its fork, exec and reply, on top of the programs' limits */
#define EXIT_WAIT_NS	100000000ull	/* a helper that closed its end is exiting */
#define CONFIG_TAG	0

enum hio { H_OK, H_GONE, H_SILENT, H_BAD, H_REFUSED };

int helper_ready(const struct helper *h)
{
	return access(h->path, X_OK) == 0;
}

/* Keep a CONFIG the agent took, for the helper before its next program. */
void helper_config(struct helper *h, const struct frame *f)
{
	/* decode_config() accepted it, so it fits; this only keeps memcpy honest. */
	if (f->len > sizeof(h->cfg))
		return;
	memcpy(h->cfg, f->payload, f->len);
	h->cfg_len = f->len;
	h->configured = 0;
}

/* reap_stuck() reaps any child: 1 if this one was the helper. */
int helper_reaped(struct helper *h, pid_t pid, int status)
{
	if (!h || !h->pid || pid != h->pid)
		return 0;
	h->exited = 1;
	h->status = status;
	return 1;
}

static void forget(struct helper *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->pid = 0;
	h->exited = 0;
	h->configured = 0;
}

static void describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* End the helper (killing it if it does not exit by itself) and say how it ended. */
static void finish(struct agent *a, char *how, size_t len)
{
	struct helper *h = a->helper;
	int pidfd, status = h->status;

	if (h->fd >= 0) {
		close(h->fd);	/* a helper reading its channel sees EOF and exits */
		h->fd = -1;
	}
	if (!h->exited) {
		pidfd = pidfd_of(h->pid);
		h->exited = wait_exit(h->pid, pidfd, now_ns() + EXIT_WAIT_NS, &status);
		if (!h->exited) {
			kill(h->pid, SIGKILL);
			h->exited = wait_exit(h->pid, pidfd, now_ns() + KILL_GRACE_NS, &status);
		}
		if (pidfd >= 0)
			close(pidfd);
		if (!h->exited)
			a->stuck++;	/* reaped whenever it finally exits */
	}
	if (h->exited)
		describe_exit(status, how, len);
	else
		snprintf(how, len, "did not exit when killed");
	forget(h);
}

/* A helper that ended since the last request is replaced, not reported. */
static void check_alive(struct agent *a)
{
	struct helper *h = a->helper;
	char how[64];
	int status;

	if (!h->pid)
		return;
	if (!h->exited && waitpid(h->pid, &status, WNOHANG) == h->pid) {
		h->exited = 1;
		h->status = status;
	}
	if (!h->exited)
		return;
	describe_exit(h->status, how, sizeof(how));
	klog(a, "32-bit helper ended between programs, starting another: ", how);
	forget(h);
}

static void __attribute__((noreturn)) exec_helper(struct agent *a, int sock, int errfd)
{
	char fd_arg[16], rdev_arg[24];
	char *argv[] = { "rig-agent32", "-f", fd_arg, "-k", (char *)a->kmsg_path,
			 "-r", rdev_arg, NULL };
	int fd, err;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(a->port);	/* not close-on-exec when inherited (-f) */
	fd = dup(sock);	/* the copy has no close-on-exec: the helper's channel */
	snprintf(fd_arg, sizeof(fd_arg), "%d", fd);
	snprintf(rdev_arg, sizeof(rdev_arg), "%llu", (unsigned long long)a->port_rdev);
	if (fd >= 0)
		execv(a->helper->path, argv);
	err = errno;
	if (write(errfd, &err, sizeof(err)) < 0)
		_exit(126);
	_exit(127);
}

/* A new helper; 0, or -1 and why not. */
static int start(struct agent *a, char *why, size_t len)
{
	struct helper *h = a->helper;
	int sv[2], ep[2], err = 0;
	ssize_t n;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		snprintf(why, len, "no socket for the 32-bit helper: %s", strerror(errno));
		return -1;
	}
	/* Close-on-exec: it reads EOF once the helper runs, or the reason it could not. */
	if (pipe2(ep, O_CLOEXEC)) {
		snprintf(why, len, "no pipe for the 32-bit helper: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0)
		exec_helper(a, sv[1], ep[1]);
	err = errno;
	close(sv[1]);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		close(sv[0]);
		snprintf(why, len, "cannot fork the 32-bit helper: %s", strerror(err));
		return -1;
	}
	do
		n = read(ep[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == sizeof(err)) {
		waitpid(pid, NULL, 0);
		close(sv[0]);
		snprintf(why, len, "cannot start the 32-bit helper %s: %s", h->path, strerror(err));
		return -1;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	h->pid = pid;
	h->fd = sv[0];
	h->exited = 0;
	h->configured = 0;
	return 0;
}

/* 0 when fd is ready (or in error, for the next read or write to see); -1 at the deadline. */
static int wait_fd(int fd, short events, u64 deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		u64 now = now_ns();
		u64 ms = now >= deadline ? 0 : (deadline - now + 999999) / 1000000;
		int r;

		if (!ms)
			return -1;
		r = poll(&p, 1, ms > 3600000 ? 3600000 : (int)ms);
		if (r > 0 || (r < 0 && errno != EINTR))
			return 0;
	}
}

static enum hio send_until(int fd, const u8 *p, size_t n, u64 deadline)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline))
				return H_SILENT;
		} else {
			return H_GONE;
		}
	}
	return H_OK;
}

static enum hio recv_until(int fd, u8 *p, size_t n, u64 deadline)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline))
				return H_SILENT;
		} else {
			return H_GONE;
		}
	}
	return H_OK;
}

/* The helper's answer to the request of this tag and type, whole in a->out. */
static enum hio recv_reply(struct agent *a, u32 tag, u16 type, u64 deadline)
{
	enum hio r = recv_until(a->helper->fd, a->out.p, FRAME_HDR, deadline);
	u32 magic, rtag, len;
	u16 rtype, flags;
	struct rd d;

	if (r != H_OK)
		return r;
	rd_init(&d, a->out.p, FRAME_HDR);
	magic = rd_u32(&d);
	rtype = rd_u16(&d);
	flags = rd_u16(&d);
	rtag = rd_u32(&d);
	len = rd_u32(&d);
	if (magic != FRAME_MAGIC || flags || rtag != tag || len > MAX_REPLY ||
	    (rtype != (T_REPLY | type) && rtype != T_ERROR))
		return H_BAD;
	r = recv_until(a->helper->fd, a->out.p + FRAME_HDR, len, deadline);
	a->out.len = FRAME_HDR + (size_t)len;
	if (r == H_OK && rtype == T_ERROR)
		return H_REFUSED;
	return r;
}

static void put_header(u8 *b, u16 type, u32 tag, u32 len)
{
	struct obuf o = { .p = b, .cap = FRAME_HDR };

	ob_u32(&o, FRAME_MAGIC);
	ob_u16(&o, type);
	ob_u16(&o, 0);
	ob_u32(&o, tag);
	ob_u32(&o, len);
}

/* Give the helper the config in force, within wait_ms. */
static enum hio configure(struct agent *a, u64 wait_ms)
{
	struct helper *h = a->helper;
	u64 deadline = now_ns() + wait_ms * 1000000ull;
	u8 hdr[FRAME_HDR];
	enum hio r;

	put_header(hdr, T_CONFIG, CONFIG_TAG, h->cfg_len);
	r = send_until(h->fd, hdr, FRAME_HDR, deadline);
	if (r == H_OK)
		r = send_until(h->fd, h->cfg, h->cfg_len, deadline);
	if (r == H_OK)
		r = recv_reply(a, CONFIG_TAG, T_CONFIG, deadline);
	h->configured = r == H_OK;
	return r;
}

static void fail(struct agent *a, u32 tag, enum hio r, u64 wait_ms)
{
	char how[64], why[160];
	size_t n = sizeof(why);

	finish(a, how, sizeof(how));
	if (r == H_GONE)
		snprintf(why, n, "the 32-bit helper died: %s", how);
	else if (r == H_SILENT)
		snprintf(why, n, "the 32-bit helper said nothing for %llu ms; ended it (%s)",
			 (unsigned long long)wait_ms, how);
	else if (r == H_REFUSED)
		snprintf(why, n, "the 32-bit helper refused the config; ended it (%s)", how);
	else
		snprintf(why, n, "the 32-bit helper sent a malformed reply; ended it (%s)", how);
	klog(a, "", why);
	send_error(a, tag, E_HELPER, why);
}

/*
 * Run the program of a RUN or BENCH frame in the helper and send the host its
 * reply. budget_ms: the longest the helper may take for it.
 */
void relay(struct agent *a, const struct frame *f, u64 budget_ms)
{
	struct helper *h = a->helper;
	u64 wait_ms = budget_ms + HELPER_SLACK_MS, deadline;
	/* as long as the agent's own config may take: family lookups of a second at most */
	u64 config_ms = (2 + a->cfg->nfamilies) * 1000ull;
	char why[160];
	enum hio r;

	check_alive(a);
	if (!h->pid && start(a, why, sizeof(why))) {
		klog(a, "", why);
		send_error(a, f->tag, E_HELPER, why);
		return;
	}
	if (!h->configured) {
		r = configure(a, config_ms);
		if (r != H_OK) {
			fail(a, f->tag, r, config_ms);
			return;
		}
	}
	deadline = now_ns() + wait_ms * 1000000ull;
	/* The frame as it came: the helper checks it as the host sent it. */
	r = send_until(h->fd, f->payload - FRAME_HDR, FRAME_HDR + (size_t)f->len, deadline);
	if (r == H_OK)
		r = recv_reply(a, f->tag, f->type, deadline);
	if (r != H_OK && r != H_REFUSED) {
		fail(a, f->tag, r, wait_ms);
		return;
	}
	/* An ERROR from the helper answers the request too: the host gets it as it came. */
	if (write_all(a->port, a->out.p, a->out.len) && a->exit_on_eof)
		exit(0);
}
