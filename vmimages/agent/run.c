// SPDX-License-Identifier: GPL-2.0
/*
 * Running one program: a forked child executes the calls and records their
 * results in memory shared with the agent, which enforces the per-call time
 * limit and turns the records into a RESULT message (format in wire.h).
 *
 * The child is disposable: a call stuck in the kernel leaves it behind (it is
 * killed, and reaped whenever it finally exits) while the agent goes on with
 * fresh shared memory. The agent trusts nothing the child wrote: every offset
 * and count in the records is checked before it is copied out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
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

#include "agent.h"

/* The coverage file's records read the same in the 64- and the 32-bit agent. */
_Static_assert(sizeof(struct rigcov_header) == 16, "struct rigcov_header is 16 bytes");
_Static_assert(offsetof(struct rigcov_cmp, arg1) == 8 && sizeof(struct rigcov_cmp) == 24,
	       "struct rigcov_cmp is 24 bytes with arg1 at 8");

/* ---------------------------------------------------------------- child */

struct child {
	struct agent *a;
	const struct prog *p;
	struct shm *shm;
	int slot[MAX_CALLS];	/* fd made by each call, -1 if none */
	int covfd;
	u8 *scratch;		/* coverage reads and netlink replies */
	size_t used;		/* arena bytes handed out */
	u64 addr[MAX_ARGS];	/* where each argument was placed */
	void *map[MAX_CALLS];	/* mapping made by each mmap call, NULL if none */
	u64 map_len[MAX_CALLS];
};

static u8 *arena_alloc(struct child *c, u32 n, int crossing)
{
	size_t at, pages;

	if (!crossing) {
		at = c->used;
		c->used += (size_t)arena_cost(n, 0);
		return c->a->arena + at;
	}
	/* The last mapped byte sits just before a page made inaccessible. */
	at = (c->used + PAGE - 1) & ~(size_t)(PAGE - 1);
	pages = (n + PAGE - 1) & ~(size_t)(PAGE - 1);
	mprotect(c->a->arena + at + pages, PAGE, PROT_NONE);
	c->used = at + pages + PAGE;
	return c->a->arena + at + pages - n;
}

/* Room in the shared data area, or -1. */
static long shm_take(struct shm *s, size_t n)
{
	size_t at = (s->used + 7) & ~(size_t)7;

	if (at > SHM_DATA || n > SHM_DATA - at)
		return -1;
	s->used = (u32)(at + n);
	return (long)at;
}

/* Output of the call in progress grows at the end of the shared area. */
static void out_append(struct child *c, struct call_rec *r, const void *p, size_t n)
{
	size_t room = c->a->cfg->max_output - r->out_len;

	if (room > SHM_DATA - c->shm->used)
		room = SHM_DATA - c->shm->used;
	if (n > room) {
		r->flags |= CF_TRUNCATED;
		n = room;
	}
	memcpy(c->shm->data + c->shm->used, p, n);
	c->shm->used += (u32)n;
	r->out_len += (u32)n;
}

static u64 place_arg(struct child *c, u32 ai)
{
	const struct arg *a = &c->p->args[ai];
	u8 *at;
	u32 i;

	switch (a->tag) {
	case A_INT:
		return c->addr[ai] = a->value;
	case A_NULL:
		return c->addr[ai] = 0;
	case A_UNMAPPED:
		return c->addr[ai] = c->a->unmapped;
	case A_KERNEL:
		return c->addr[ai] = KERNEL_ADDR;
	}
	at = arena_alloc(c, a->mapped, a->crossing);
	c->addr[ai] = (u64)(uintptr_t)at;
	memcpy(at, a->data.p, a->data.len);
	for (i = 0; i < a->nptrs; i++) {
		const struct ptr *p = &c->p->ptrs[a->first_ptr + i];
		u64 v = place_arg(c, p->target);
		u32 k;

		/* The low width bytes, little-endian: a compat_uptr_t takes 4. */
		for (k = 0; k < p->width; k++)
			at[p->offset + k] = (u8)(v >> (8 * k));
	}
	return c->addr[ai];
}

/* Every buffer's mapped bytes after the call, in the order they were placed. */
static void capture_arg(struct child *c, struct call_rec *r, u32 ai)
{
	const struct arg *a = &c->p->args[ai];
	u32 i;

	if (a->tag != A_BUFFER)
		return;
	out_append(c, r, (const void *)(uintptr_t)c->addr[ai], a->mapped);
	for (i = 0; i < a->nptrs; i++)
		capture_arg(c, r, c->p->ptrs[a->first_ptr + i].target);
}

static int fd_of(struct child *c, u32 ref)
{
	return ref == NO_FD ? -1 : c->slot[ref];
}

static long do_open(struct child *c, struct call_rec *r, struct bytes path, int flags, u32 mode)
{
	char buf[MAX_PATH + 1];
	int refused;
	long fd;

	copy_str(buf, path);
	fd = policy_open(&c->a->pol, c->a->cfg, buf, flags, mode, &refused);
	if (refused)
		r->status = C_REFUSED;
	return fd;
}

static long do_read(struct child *c, struct call_rec *r, int fd, u32 count)
{
	u8 *buf = arena_alloc(c, count, 0);
	long n = read(fd, buf, count);

	if (n > 0)
		out_append(c, r, buf, (size_t)n);
	return n;
}

static long do_file(struct child *c, struct call_rec *r, const struct call *k)
{
	int write_it = k->kind == K_FILE_WRITE;
	int fd = (int)do_open(c, r, k->str, write_it ? O_WRONLY : O_RDONLY, 0);
	long ret;
	int err;

	if (fd < 0)
		return -1;
	if (write_it)
		ret = write(fd, k->data.p, k->data.len);
	else
		ret = do_read(c, r, fd, k->count);
	err = errno;
	close(fd);
	errno = err;
	return ret;
}

/* Put the family id into every message the kernel will parse (netlink_rcv_skb). */
static void set_family(u8 *msg, u32 len, u16 id)
{
	u32 off = 0;

	while (len - off >= NLMSG_HDRLEN) {
		u32 mlen;

		memcpy(&mlen, msg + off, 4);
		if (mlen < NLMSG_HDRLEN || mlen > len - off)
			return;
		memcpy(msg + off + 4, &id, 2);
		mlen = NLMSG_ALIGN(mlen);
		if (mlen > len - off)
			return;
		off += mlen;
	}
}

/* Send the message; the replies (errors included) are the output. */
static long nl_exchange(struct child *c, struct call_rec *r, int fd, const struct call *k)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	long ret, n;
	int i;

	ret = sendto(fd, k->data.p, k->data.len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	if (ret < 0)
		return ret;
	for (i = 0; i < 4096; i++) {
		n = recv(fd, c->scratch, NL_RECV_MAX, MSG_DONTWAIT);
		if (n <= 0)
			break;
		out_append(c, r, c->scratch, (size_t)n);
	}
	return ret;
}

static long do_nl_send(struct child *c, struct call_rec *r, const struct call *k)
{
	int fi = family_index(c->a->cfg, k->str);
	int fd = fd_of(c, k->fd), id;

	if (fi < 0) {
		r->status = C_REFUSED;
		errno = EPERM;
		return -1;
	}
	if (k->str.p[0] == '@') {
		/* Raw: never on a generic socket, where it would reach any family. */
		if (k->fd != NO_FD && c->p->calls[k->fd].count != (u32)raw_family(k->str)) {
			r->status = C_REFUSED;
			errno = EPERM;
			return -1;
		}
		return nl_exchange(c, r, fd, k);
	}
	id = (int)c->a->pol.family_id[fi];
	if (!id)
		id = genl_family_id(c->a->cfg->families[fi]);
	if (id <= 0) {
		r->status = C_REFUSED;
		errno = ENOENT;
		return -1;
	}
	/* The message lives in this child's private copy of the request. */
	set_family((u8 *)k->data.p, k->data.len, (u16)id);
	return nl_exchange(c, r, fd, k);
}

/*
 * Touching a mapping runs the driver's fault handler, which may answer with
 * SIGBUS (or SIGSEGV): that ends the touching, not the program.
 */
static sigjmp_buf touch_env;
static volatile sig_atomic_t touching;	/* the one type a handler may test */
static u64 touched;	/* static: a local would be lost across siglongjmp */

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

static void touch_loop(u8 *at, u64 len, u32 how)
{
	u64 pages = (len + PAGE - 1) / PAGE;

	if (pages > MAX_TOUCH)
		pages = MAX_TOUCH;
	for (; touched < pages; touched++) {
		u8 *page = at + touched * PAGE;

		/* atomic accesses: the compiler may not drop or merge them */
		if (how & TOUCH_READ)
			(void)__atomic_load_n(page, __ATOMIC_RELAXED);
		if (how & TOUCH_WRITE)
			__atomic_store_n(page, (u8)touched, __ATOMIC_RELAXED);
	}
}

/* Pages touched before the first fault, if any. */
static u64 touch_pages(u8 *at, u64 len, u32 how)
{
	touched = 0;
	if (sigsetjmp(touch_env, 1))
		return touched;
	touching = 1;
	touch_loop(at, len, how);
	touching = 0;
	return touched;
}

/* The mapping is the result; its address stays in the child. Returns 0 or -1. */
static long do_mmap(struct child *c, const struct call *k, u32 i)
{
	void *m;

#if SIZE_MAX < UINT64_MAX
	/* A 32-bit process cannot ask for more: the length must not wrap into a small one. */
	if (k->length > SIZE_MAX) {
		errno = ENOMEM;
		return -1;
	}
#endif
	m = mmap(NULL, (size_t)k->length, (int)k->mode, (int)k->flags, fd_of(c, k->fd),
		 (off_t)k->offset);
	if (m == MAP_FAILED)
		return -1;
	c->map[i] = m;
	c->map_len[i] = k->length;
	if (k->count)
		touch_pages(m, k->length, k->count);
	return 0;
}

static long do_munmap(struct child *c, u32 ref)
{
	long ret;

	if (ref == NO_FD || !c->map[ref]) {
		errno = EINVAL;
		return -1;
	}
	ret = munmap(c->map[ref], c->map_len[ref]);
	c->map[ref] = NULL;
	return ret;
}

/* Not waiting: the result is the revents (0 when nothing is ready). */
static long do_poll(struct child *c, const struct call *k)
{
	struct pollfd p = { .fd = fd_of(c, k->fd), .events = (short)k->cmd };
	int n = poll(&p, 1, 0);

	return n < 0 ? n : (long)(u16)p.revents;
}

static long do_call(struct child *c, struct call_rec *r, u32 i)
{
	const struct call *k = &c->p->calls[i];
	long ret;

	switch (k->kind) {
	case K_OPEN:
		ret = do_open(c, r, k->str, (int)k->flags, k->mode);
		c->slot[i] = (int)ret;
		return ret;
	case K_CLOSE:
		ret = close(fd_of(c, k->fd));
		if (k->fd != NO_FD)
			c->slot[k->fd] = -1;
		return ret;
	case K_READ:
		return do_read(c, r, fd_of(c, k->fd), k->count);
	case K_WRITE:
		return write(fd_of(c, k->fd), k->data.p, k->data.len);
	case K_IOCTL:
		ret = ioctl(fd_of(c, k->fd), k->cmd, (unsigned long)place_arg(c, k->arg));
		capture_arg(c, r, k->arg);
		return ret;
	case K_NL_SOCKET:
		ret = socket(AF_NETLINK, SOCK_RAW, (int)k->count);
		c->slot[i] = (int)ret;
		return ret;
	case K_NL_SEND:
		return do_nl_send(c, r, k);
	case K_MMAP:
		return do_mmap(c, k, i);
	case K_MUNMAP:
		return do_munmap(c, k->fd);
	case K_POLL:
		return do_poll(c, k);
	}
	return do_file(c, r, k);
}

static void dedup_pcs(u32 *pcs, u32 *n);

static int cov_read(struct child *c, size_t *got, size_t want)
{
	while (*got < want) {
		ssize_t n = pread(c->covfd, c->scratch + *got, want - *got, (off_t)*got);

		if (n <= 0)
			return -1;
		*got += (size_t)n;
	}
	return 0;
}

/* Copy what the driver recorded into the shared area: PCs, then comparisons. */
static void collect_cov(struct child *c, struct call_rec *r)
{
	struct rigcov_header h;
	size_t got = 0, need;
	long at;

	if (cov_read(c, &got, sizeof(h))) {
		r->flags |= CF_COV_ERROR;
		return;
	}
	memcpy(&h, c->scratch, sizeof(h));
	if (h.magic != RIGCOV_MAGIC || h.npcs > RIGCOV_MAX_PCS || h.ncmps > RIGCOV_MAX_CMPS) {
		r->flags |= CF_COV_ERROR;
		return;
	}
	need = sizeof(h) + h.npcs * 4ul + h.ncmps * sizeof(struct rigcov_cmp);
	if (cov_read(c, &got, need)) {
		r->flags |= CF_COV_ERROR;
		return;
	}
	r->flags |= (h.flags & RIGCOV_FLAG_PCS_OVERFLOW ? CF_PCS_OVERFLOW : 0) |
		    (h.flags & RIGCOV_FLAG_CMPS_OVERFLOW ? CF_CMPS_OVERFLOW : 0);
	at = shm_take(c->shm, need - sizeof(h));
	if (at < 0) {
		r->flags |= CF_COV_DROPPED;
		return;
	}
	memcpy(c->shm->data + at, c->scratch + sizeof(h), need - sizeof(h));
	r->pcs_off = (u32)at;
	r->npcs = h.npcs;
	r->cmps_off = (u32)at + h.npcs * 4;
	r->ncmps = h.ncmps;
	if (c->a->cfg->flags & CFG_COV_DEDUP)
		dedup_pcs((u32 *)(c->shm->data + at), &r->npcs);
}

static int cmp_u32(const void *a, const void *b)
{
	u32 x = *(const u32 *)a, y = *(const u32 *)b;

	return x < y ? -1 : x > y;
}

static void dedup_pcs(u32 *pcs, u32 *n)
{
	u32 i, k = 0;

	qsort(pcs, *n, sizeof(*pcs), cmp_u32);
	for (i = 0; i < *n; i++)
		if (!k || pcs[k - 1] != pcs[i])
			pcs[k++] = pcs[i];
	*n = k;
}

/*
 * The coverage ioctls. The host-side tests build the agent with RIG_FAKE_COV,
 * where any file can stand in for the coverage file: its contents are what
 * "the driver" recorded.
 */
static int cov_ioctl(int fd, unsigned long cmd)
{
#ifdef RIG_FAKE_COV
	(void)fd;
	(void)cmd;
	return 0;
#else
	return ioctl(fd, cmd, 0);
#endif
}

static void run_call(struct child *c, u32 i)
{
	struct call_rec *r = &c->shm->calls[i];
	int cov = c->covfd >= 0;
	u64 t0;
	long ret;

	memset(r, 0, sizeof(*r));
	r->out_off = c->shm->used;
	c->shm->start_ns = now_ns();
	__atomic_store_n(&c->shm->cur, i, __ATOMIC_RELEASE);
	if (cov && (cov_ioctl(c->covfd, RIGCOV_RESET) || cov_ioctl(c->covfd, RIGCOV_ENABLE)))
		r->flags |= CF_COV_ERROR;
	t0 = now_ns();
	errno = 0;
	ret = do_call(c, r, i);
	r->dur_ns = now_ns() - t0;
	r->ret = ret;
	r->err = ret < 0 ? (u32)errno : 0;
	shm_take(c->shm, 0);	/* realign after the output */
	if (cov) {
		cov_ioctl(c->covfd, RIGCOV_DISABLE);
		if (!(r->flags & CF_COV_ERROR))
			collect_cov(c, r);
	}
	__atomic_store_n(&c->shm->done, i + 1, __ATOMIC_RELEASE);
}

static void child_main(struct agent *a, const struct prog *p)
{
	static struct child c;
	u32 i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* A child stuck in the kernel must not keep the channel (or the helper's) open. */
	close(a->port);
	if (a->helper->fd >= 0)
		close(a->helper->fd);
	memset(c.slot, -1, sizeof(c.slot));
	memset(c.map, 0, sizeof(c.map));
	signal(SIGBUS, touch_fault);
	signal(SIGSEGV, touch_fault);
	c.a = a;
	c.p = p;
	c.shm = a->shm;
	c.scratch = a->arena + ARENA_SIZE - SCRATCH;
	c.covfd = -1;
	if (a->cfg->cov_path[0]) {
		c.covfd = open(a->cfg->cov_path, O_RDWR | O_CLOEXEC);
		c.shm->cov_status = c.covfd < 0 ? COV_UNAVAILABLE : COV_ON;
		c.shm->cov_errno = c.covfd < 0 ? (u32)errno : 0;
	}
	for (i = 0; i < p->ncalls; i++)
		run_call(&c, i);
	__atomic_store_n(&c.shm->cur, p->ncalls, __ATOMIC_RELEASE);
	_exit(0);
}

/* ---------------------------------------------------------------- agent side */

int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * Wait for pid to exit until deadline: 1 and its status if it did, 0 if the
 * deadline passed. Without a pidfd, poll in small steps.
 */
int wait_exit(pid_t pid, int pidfd, u64 deadline_ns, int *status)
{
	for (;;) {
		u64 now = now_ns();
		int ms = now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		if (pidfd < 0 && ms > 1)
			ms = 1;
		if (pidfd >= 0 && poll(&pfd, 1, ms) < 0 && errno != EINTR)
			return 0;
		if (pidfd < 0)
			usleep((useconds_t)ms * 1000);
		if (waitpid(pid, status, WNOHANG) == pid)
			return 1;
		if (now_ns() >= deadline_ns)
			return 0;
	}
}

/* Children that outlived their kill and have exited since. */
void reap_stuck(struct agent *a)
{
	pid_t pid;
	int status;

	while (a->stuck && (pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (!helper_reaped(a->helper, pid, status))
			a->stuck--;
}

int shm_renew(struct agent *a)
{
	void *m = mmap(NULL, sizeof(struct shm), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	if (a->shm)
		munmap(a->shm, sizeof(struct shm));
	a->shm = m;
	return 0;
}

static void shm_prepare(struct shm *s)
{
	s->cur = 0;
	s->done = 0;
	s->start_ns = now_ns();
	s->cov_status = COV_OFF;
	s->cov_errno = 0;
	s->used = 0;
}

/*
 * Watch the child call by call and kill it when a call overruns. The child
 * says when each call started; a start in the future (the shared memory is
 * within reach of a driver's stray write) counts from now.
 */
static void watch(struct agent *a, pid_t pid, struct outcome *o)
{
	u64 limit = (u64)a->cfg->call_ms * 1000000ull;
	int pidfd = pidfd_of(pid), status = 0;

	for (;;) {
		u32 cur = __atomic_load_n(&a->shm->cur, __ATOMIC_ACQUIRE);
		u64 start = __atomic_load_n(&a->shm->start_ns, __ATOMIC_ACQUIRE);
		u64 now = now_ns();

		if (wait_exit(pid, pidfd, (start < now ? start : now) + limit, &status))
			break;
		if (cur != __atomic_load_n(&a->shm->cur, __ATOMIC_ACQUIRE) ||
		    start != __atomic_load_n(&a->shm->start_ns, __ATOMIC_ACQUIRE))
			continue;	/* the next call started meanwhile */
		o->status = P_TIMED_OUT;
		kill(pid, SIGKILL);
		o->stuck = !wait_exit(pid, pidfd, now_ns() + KILL_GRACE_NS, &status);
		break;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (o->status == P_TIMED_OUT)
		return;
	if (WIFSIGNALED(status)) {
		o->status = P_DIED;
		o->detail = (u32)WTERMSIG(status);
	} else if (WEXITSTATUS(status)) {
		o->status = P_DIED;
		o->detail = 0x100u | (u32)WEXITSTATUS(status);
	}
}

void run_program(struct agent *a, const struct prog *p, u64 seq, struct outcome *o)
{
	pid_t pid;

	memset(o, 0, sizeof(*o));
	reap_stuck(a);
	shm_prepare(a->shm);
	marker(a, "program", seq);
	pid = fork();
	if (pid < 0) {
		o->status = P_SETUP_FAILED;
		o->detail = (u32)errno;
		return;
	}
	if (pid == 0)
		child_main(a, p);
	watch(a, pid, o);
}

/* ---------------------------------------------------------------- result */

/* A region of the shared area if it lies inside what the child says it used. */
static const u8 *region(const struct shm *s, u32 off, u64 len, u64 *budget)
{
	u32 used = s->used < SHM_DATA ? s->used : SHM_DATA;

	if (off > used || len > used - off || len > *budget)
		return NULL;
	*budget -= len;
	return s->data + off;
}

static void encode_call(struct agent *a, const struct call_rec *r, u32 status, u64 *budget)
{
	const u8 *out = NULL, *pcs = NULL, *cmps = NULL;
	u32 flags = r->flags & CF_ALL, npcs = 0, ncmps = 0;

	if (r->out_len <= a->cfg->max_output)
		out = region(a->shm, r->out_off, r->out_len, budget);
	if (!out)
		flags |= CF_TRUNCATED;
	if (r->npcs <= RIGCOV_MAX_PCS && r->ncmps <= RIGCOV_MAX_CMPS) {
		pcs = region(a->shm, r->pcs_off, r->npcs * 4ull, budget);
		cmps = region(a->shm, r->cmps_off, r->ncmps * 24ull, budget);
	}
	if (pcs && cmps) {
		npcs = r->npcs;
		ncmps = r->ncmps;
	} else {
		flags |= CF_COV_DROPPED;
	}
	ob_u8(&a->out, (u8)status);
	ob_u8(&a->out, (u8)flags);
	ob_u16(&a->out, 0);
	ob_u32(&a->out, r->err);
	ob_u64(&a->out, (u64)r->ret);
	ob_u64(&a->out, r->dur_ns);
	ob_blob(&a->out, out, out ? r->out_len : 0);
	ob_u32(&a->out, npcs);
	ob_bytes(&a->out, pcs, npcs * 4ul);
	ob_u32(&a->out, ncmps);
	ob_bytes(&a->out, cmps, ncmps * 24ul);
}

/*
 * Calls before `done` have their records; the one at `done` was running when
 * the child timed out or died; the rest did not run.
 */
void encode_result(struct agent *a, const struct prog *p, u64 seq, const struct outcome *o)
{
	const struct shm *s = a->shm;
	u32 done = __atomic_load_n(&s->done, __ATOMIC_ACQUIRE), i;
	const struct call_rec *r;
	struct call_rec none, timed_out;
	u64 budget = SHM_DATA;

	if (done > p->ncalls)
		done = p->ncalls;
	ob_u64(&a->out, seq);
	ob_u32(&a->out, o->status);
	ob_u32(&a->out, o->detail);
	ob_u32(&a->out, s->cov_status <= COV_UNAVAILABLE ? s->cov_status : COV_UNAVAILABLE);
	ob_u32(&a->out, s->cov_errno);
	ob_u32(&a->out, p->ncalls);
	memset(&none, 0, sizeof(none));
	timed_out = none;
	timed_out.dur_ns = (u64)a->cfg->call_ms * 1000000ull;
	for (i = 0; i < p->ncalls; i++) {
		r = &s->calls[i];
		if (i < done)
			encode_call(a, r, r->status == C_REFUSED ? C_REFUSED : C_OK, &budget);
		else if (i > done || o->status == P_OK)
			encode_call(a, &none, C_NOT_RUN, &budget);
		else if (o->status == P_TIMED_OUT)
			encode_call(a, &timed_out, C_TIMED_OUT, &budget);
		else
			encode_call(a, &none, C_FAILED, &budget);
	}
}
