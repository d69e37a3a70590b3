// SPDX-License-Identifier: GPL-2.0
/*
 * Running a static binary sent by the host (what reproducers use): from a
 * memfd, in its own session, with a time limit and bounded output. The EXEC
 * request and reply are specified in wire.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define EXIT_DRAIN_NS	100000000ull	/* output still read after the binary exits */

struct exec_out {
	u8 *buf;
	u32 len, max;
	int truncated;
};

/* Read what is there; keep up to max bytes and drop the rest. 0 at EOF. */
static int drain(int fd, struct exec_out *x)
{
	u8 sink[4096];
	ssize_t n;

	for (;;) {
		u32 room = x->max - x->len;
		u8 *to = room ? x->buf + x->len : sink;
		size_t want = room ? room : sizeof(sink);

		n = read(fd, to, want);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 1 : 0;
		if (n == 0)
			return 0;
		if (room)
			x->len += (u32)n;
		else
			x->truncated = 1;
	}
}

static void exec_child(struct agent *a, int memfd, int outfd, struct exec_req *req)
{
	static char *const envp[] = { "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/", NULL };
	static char *const dflt[] = { "rig-exec", NULL };
	int null = open("/dev/null", O_RDONLY);

	setsid();
	close(a->port);
	if (null >= 0)
		dup2(null, 0);
	dup2(outfd, 1);
	dup2(outfd, 2);
	signal(SIGPIPE, SIG_DFL);
	execveat(memfd, "", req->argc ? req->argv : dflt, envp, AT_EMPTY_PATH);
	dprintf(1, "rig-agent: cannot execute the binary: %s\n", strerror(errno));
	_exit(127);
}

/*
 * Wait for the binary to exit and its output to end, until the deadline.
 * Returns 1 if it exited (status set), 0 if its process group was killed.
 */
static int exec_wait(struct agent *a, pid_t pid, int outfd, u64 deadline, struct exec_out *x,
		     int *status)
{
	int pidfd = pidfd_of(pid), exited = 0, open_pipe = 1;
	u64 stop = deadline, now;

	while ((now = now_ns()) < stop && !(exited && !open_pipe)) {
		struct pollfd p[2] = { { .fd = open_pipe ? outfd : -1, .events = POLLIN },
				       { .fd = exited ? -1 : pidfd, .events = POLLIN } };
		int ms = (int)((stop - now) / 1000000 + 1);

		poll(p, 2, pidfd < 0 && !exited && ms > 10 ? 10 : ms);
		if (p[0].revents)
			open_pipe = drain(outfd, x);
		if (!exited && waitpid(pid, status, WNOHANG) == pid) {
			exited = 1;
			/* Its children may hold the pipe: take what is there, briefly. */
			if (stop > now_ns() + EXIT_DRAIN_NS)
				stop = now_ns() + EXIT_DRAIN_NS;
		}
	}
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		if (!wait_exit(pid, pidfd, now_ns() + KILL_GRACE_NS, status))
			a->stuck++;
	}
	if (pidfd >= 0)
		close(pidfd);
	return exited;
}

static void exec_reply(struct agent *a, u32 tag, u32 status, s32 code, u64 dur,
		       const struct exec_out *x)
{
	begin_reply(a, T_REPLY | T_EXEC, tag);
	ob_u32(&a->out, status);
	ob_u32(&a->out, (u32)code);
	ob_u64(&a->out, dur);
	ob_u32(&a->out, x->truncated ? CF_TRUNCATED : 0);
	ob_blob(&a->out, x->buf, x->len);
	send_reply(a, tag);
}

void do_exec(struct agent *a, const struct frame *f)
{
	static char strbuf[MAX_ARGC * (MAX_PATH + 1)];
	struct exec_out x = { .buf = a->exec_out };
	struct exec_req req;
	int memfd, pfd[2], status = 0, exited;
	const char *err;
	u64 t0;
	pid_t pid;

	err = decode_exec(f->payload, f->len, &req, strbuf, sizeof(strbuf));
	if (err) {
		send_error(a, f->tag, E_MALFORMED, err);
		return;
	}
	x.max = req.max_output;
	memfd = memfd_create("rig-exec", 0);
	if (memfd < 0 || write_all(memfd, req.binary.p, req.binary.len) ||
	    pipe2(pfd, O_CLOEXEC) || fcntl(pfd[0], F_SETFL, O_NONBLOCK)) {
		if (memfd >= 0)
			close(memfd);
		exec_reply(a, f->tag, X_FAILED, errno, 0, &x);
		return;
	}
	reap_stuck(a);
	marker(a, "binary", ++a->exec_count);
	t0 = now_ns();
	pid = fork();
	if (pid == 0)
		exec_child(a, memfd, pfd[1], &req);
	close(pfd[1]);
	close(memfd);
	if (pid < 0) {
		close(pfd[0]);
		exec_reply(a, f->tag, X_FAILED, errno, 0, &x);
		return;
	}
	exited = exec_wait(a, pid, pfd[0], t0 + req.timeout_ms * 1000000ull, &x, &status);
	close(pfd[0]);
	if (!exited)
		exec_reply(a, f->tag, X_TIMED_OUT, 0, now_ns() - t0, &x);
	else if (WIFSIGNALED(status))
		exec_reply(a, f->tag, X_SIGNALED, WTERMSIG(status), now_ns() - t0, &x);
	else
		exec_reply(a, f->tag, X_EXITED, WEXITSTATUS(status), now_ns() - t0, &x);
}
