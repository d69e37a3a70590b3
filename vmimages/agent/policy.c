// SPDX-License-Identifier: GPL-2.0
/*
 * What a program may touch: the host's allowlist of paths and netlink
 * families, plus files that no program may open whatever the host says.
 *
 * A path is refused unless it is clean (absolute, no empty, "." or ".."
 * component), outside the fixed deny list, and allowed by an entry: exactly,
 * or beneath an entry ending in '/', resolved with RESOLVE_BENEATH so that no
 * symlink leads out. After the open, the file itself is compared with the
 * denied files (coverage file, module parameters, sysrq-trigger, kmsg, mem,
 * port, the agent's channel), whatever path reached it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"

/* Refused whatever the allowlist says; an entry ending in '/' covers a tree. */
static const char *const deny_paths[] = {
	"/proc/sysrq-trigger", "/proc/sys/kernel/", "/proc/sys/vm/", "/proc/kcore",
	"/proc/kmsg", "/proc/self/", "/proc/thread-self/", "/sys/module/",
	"/sys/power/", "/sys/kernel/debug/kcov", "/dev/mem", "/dev/kmem",
	"/dev/port", "/dev/kmsg",
};

static const char *const deny_files[] = { "/proc/sysrq-trigger", "/dev/kmsg" };

void policy_reset(struct policy *pol)
{
	u32 i;

	for (i = 0; i < MAX_ALLOW; i++) {
		if (pol->dirfd[i] >= 0)
			close(pol->dirfd[i]);
		pol->dirfd[i] = -1;
	}
	memset(pol->family_id, 0, sizeof(pol->family_id));
	pol->ndenied = 0;
	pol->nrdev = 0;
}

static void deny_ident(struct policy *pol, const struct stat *st)
{
	if (pol->ndenied < MAX_DENIED) {
		pol->denied[pol->ndenied].dev = st->st_dev;
		pol->denied[pol->ndenied].ino = st->st_ino;
		pol->ndenied++;
	}
}

static void deny_path(struct policy *pol, int dirfd, const char *path)
{
	struct stat st;

	if (fstatat(dirfd, path, &st, 0) == 0)
		deny_ident(pol, &st);
}

static void deny_rdev(struct policy *pol, u64 rdev)
{
	if (pol->nrdev < MAX_DENIED_RDEV)
		pol->denied_rdev[pol->nrdev++] = rdev;
}

/* Every module parameter file, since a symlink can reach them by other names. */
static void deny_module_params(struct policy *pol)
{
	DIR *mods = opendir("/sys/module");
	struct dirent *m, *p;

	if (!mods)
		return;
	while ((m = readdir(mods))) {
		char sub[300];
		DIR *params;

		if (m->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "/sys/module/%s/parameters", m->d_name);
		params = opendir(sub);
		if (!params)
			continue;
		while ((p = readdir(params)))
			if (p->d_name[0] != '.')
				deny_path(pol, dirfd(params), p->d_name);
		closedir(params);
	}
	closedir(mods);
}

static int cmp_ident(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int is_dir_entry(const char *entry)
{
	size_t n = strlen(entry);

	return n > 1 && entry[n - 1] == '/';
}

/* Returns the number of denied files found. */
int policy_load(struct policy *pol, const struct config *cfg, dev_t port_rdev)
{
	u32 i;

	policy_reset(pol);
	for (i = 0; i < sizeof(deny_files) / sizeof(deny_files[0]); i++)
		deny_path(pol, AT_FDCWD, deny_files[i]);
	if (cfg->cov_path[0])
		deny_path(pol, AT_FDCWD, cfg->cov_path);
	deny_module_params(pol);
	qsort(pol->denied, pol->ndenied, sizeof(pol->denied[0]), cmp_ident);
	deny_rdev(pol, makedev(1, 1));	/* mem */
	deny_rdev(pol, makedev(1, 2));	/* kmem */
	deny_rdev(pol, makedev(1, 4));	/* port */
	deny_rdev(pol, makedev(1, 11));	/* kmsg */
	if (port_rdev)
		deny_rdev(pol, port_rdev);
	for (i = 0; i < cfg->npaths; i++)
		if (is_dir_entry(cfg->paths[i]))
			pol->dirfd[i] = open(cfg->paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (i = 0; i < cfg->nfamilies; i++) {
		/* A raw family ("@route") has no generic netlink id. */
		int id = cfg->families[i][0] == '@' ? 0 : genl_family_id(cfg->families[i]);

		pol->family_id[i] = id > 0 ? (u32)id : 0;
	}
	return (int)(pol->ndenied + pol->nrdev);
}

/* Absolute, and no empty, "." or ".." component. */
static int clean_path(const char *path)
{
	const char *c = path;

	if (*c != '/')
		return 0;
	while (*c == '/') {
		const char *end = strchr(c + 1, '/');
		size_t n = end ? (size_t)(end - c - 1) : strlen(c + 1);

		if (n == 0 || (n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
			return 0;
		if (!end)
			return 1;
		c = end;
	}
	return 0;
}

static int matches(const char *entry, const char *path)
{
	size_t n = strlen(entry);

	if (entry[n - 1] == '/')
		return strncmp(entry, path, n) == 0 && path[n];
	return strcmp(entry, path) == 0 || (strncmp(entry, path, n) == 0 && path[n] == '/');
}

static int denied_by_name(const struct config *cfg, const char *path)
{
	u32 i;

	for (i = 0; i < sizeof(deny_paths) / sizeof(deny_paths[0]); i++)
		if (matches(deny_paths[i], path))
			return 1;
	return cfg->cov_path[0] && strcmp(cfg->cov_path, path) == 0;
}

static int denied_file(const struct policy *pol, int fd)
{
	struct ident key;
	struct stat st;
	u32 i;

	if (fstat(fd, &st))
		return 1;
	if (S_ISCHR(st.st_mode))
		for (i = 0; i < pol->nrdev; i++)
			if (pol->denied_rdev[i] == st.st_rdev)
				return 1;
	key.dev = st.st_dev;
	key.ino = st.st_ino;
	return bsearch(&key, pol->denied, pol->ndenied, sizeof(key), cmp_ident) != NULL;
}

/* open(2)'s own flag rules, which openat2 enforces strictly instead. */
#define OPEN_FLAGS (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | \
		    O_NONBLOCK | O_DSYNC | O_SYNC | FASYNC | O_DIRECT | O_LARGEFILE | \
		    O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE)

static int open_beneath(int dirfd, const char *rel, int flags, u32 mode)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = (u64)(u32)flags & OPEN_FLAGS;
	if (how.flags & O_PATH)
		how.flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	how.mode = (how.flags & (O_CREAT | __O_TMPFILE)) ? (mode & 07777) : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, rel, flags | O_NOFOLLOW, mode);
	return fd;
}

/*
 * Open path for a program: an fd, or -1 with errno set. *refused says that
 * the policy, not the kernel, said no (errno EACCES: not allowed; EPERM:
 * denied whatever the host allows).
 */
int policy_open(const struct policy *pol, const struct config *cfg, const char *path,
		int flags, u32 mode, int *refused)
{
	int fd = -1, found = 0;
	u32 i;

	*refused = 1;
	if (!clean_path(path) || denied_by_name(cfg, path)) {
		errno = EPERM;
		return -1;
	}
	for (i = 0; i < cfg->npaths && !found; i++) {
		const char *e = cfg->paths[i];
		size_t n = strlen(e);

		if (is_dir_entry(e) && strncmp(e, path, n) == 0 && path[n]) {
			found = 1;
			if (pol->dirfd[i] < 0) {
				*refused = 0;
				errno = ENOENT;
				return -1;
			}
			fd = open_beneath(pol->dirfd[i], path + n, flags, mode);
		} else if (strcmp(e, path) == 0) {
			found = 1;
			fd = open(path, flags, mode);
		}
	}
	if (!found) {
		errno = EACCES;
		return -1;
	}
	if (fd >= 0 && denied_file(pol, fd)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	*refused = 0;
	return fd;
}

int family_index(const struct config *cfg, struct bytes name)
{
	u32 i;

	for (i = 0; i < cfg->nfamilies; i++)
		if (strlen(cfg->families[i]) == name.len &&
		    memcmp(cfg->families[i], name.p, name.len) == 0)
			return (int)i;
	return -1;
}

/* ---------------------------------------------------------------- genetlink */

struct genl_req {
	struct nlmsghdr n;
	struct genlmsghdr g;
	u8 attrs[64];
};

/* The CTRL_ATTR_FAMILY_ID in a reply, 0 if none; every length is checked. */
static int parse_family_id(const u8 *buf, size_t len)
{
	const struct nlmsghdr *n = (const void *)buf;
	size_t off, end;

	if (len < NLMSG_HDRLEN || n->nlmsg_len < NLMSG_HDRLEN || n->nlmsg_len > len)
		return -EPROTO;
	if (n->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(n);

		if (n->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			return -EPROTO;
		return e->error ? e->error : -ENOENT;
	}
	end = n->nlmsg_len;
	off = NLMSG_HDRLEN + GENL_HDRLEN;
	while (off + NLA_HDRLEN <= end) {
		struct nlattr a;

		memcpy(&a, buf + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > end - off)
			break;
		if ((a.nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID && a.nla_len >= NLA_HDRLEN + 2) {
			u16 id;

			memcpy(&id, buf + off + NLA_HDRLEN, 2);
			return id;
		}
		off += NLA_ALIGN(a.nla_len);
	}
	return -ENOENT;
}

/* Resolve a generic netlink family by name: its id, or -errno. */
int genl_family_id(const char *name)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 1 };
	size_t nlen = strlen(name) + 1;
	struct genl_req req;
	struct nlattr *a;
	static u8 reply[8192];
	ssize_t got;
	int s, id;

	if (nlen > MAX_FAMILY + 1)
		return -EINVAL;
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&req, 0, sizeof(req));
	a = (struct nlattr *)req.attrs;
	a->nla_type = CTRL_ATTR_FAMILY_NAME;
	a->nla_len = (u16)(NLA_HDRLEN + nlen);
	memcpy(req.attrs + NLA_HDRLEN, name, nlen);
	req.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN + NLA_ALIGN(a->nla_len));
	req.n.nlmsg_type = GENL_ID_CTRL;
	req.n.nlmsg_flags = NLM_F_REQUEST;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	if (sendto(s, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		id = -errno;
	} else {
		got = recv(s, reply, sizeof(reply), 0);
		id = got < 0 ? -errno : parse_family_id(reply, (size_t)got);
	}
	close(s);
	return id;
}
