// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the boundary selftests; see common.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/genetlink.h>

#include "common.h"

ssize_t write_file(const char *path, const void *buf, size_t len)
{
	ssize_t ret;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ret = write(fd, buf, len);
	if (ret < 0)
		ret = -errno;
	close(fd);
	return ret;
}

ssize_t write_str(const char *path, const char *s)
{
	return write_file(path, s, strlen(s));
}

ssize_t read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (!n)
			break;
		len += n;
	}
	buf[len] = '\0';
	close(fd);
	return len;
}

long long status_value(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 0);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

int dev_open(void)
{
	return open(DEV_PATH, O_RDWR);
}

int dev_config(int fd, uint32_t flags, uint32_t size, const char *name)
{
	struct boundary_config c = { .flags = flags, .buffer_size = size };

	strncpy(c.name, name, sizeof(c.name) - 1);
	return ioctl(fd, BOUNDARY_IOC_SET_CONFIG, &c) ? -errno : 0;
}

int dev_xfer(int fd, void *buf, uint32_t len, uint32_t op, uint32_t *done)
{
	struct boundary_xfer x = {
		.addr = (uintptr_t)buf, .len = len, .op = op,
	};

	if (ioctl(fd, BOUNDARY_IOC_XFER, &x))
		return -errno;
	if (done)
		*done = x.done;
	return 0;
}

long dev_peek(int fd, void *buf, unsigned long len, unsigned long offset)
{
	struct boundary_peek p = { .buf = buf, .len = len, .offset = offset };
	int ret = ioctl(fd, BOUNDARY_IOC_PEEK, &p);

	return ret < 0 ? -errno : ret;
}

/* ---- netlink ---- */

#define NLMSG_TAIL(n) ((struct nlattr *)((char *)(n) + NLMSG_ALIGN((n)->nlmsg_len)))

void nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, uint8_t cmd)
{
	struct genlmsghdr *g;

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	m->nlh = (struct nlmsghdr *)m->buf;
	m->nlh->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN;
	m->nlh->nlmsg_type = type;
	m->nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	g = NLMSG_DATA(m->nlh);
	g->cmd = cmd;
	g->version = BOUNDARY_GENL_VERSION;
}

void nl_put(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = NLMSG_TAIL(m->nlh);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy(nla_payload(a), data, len);
	memset((char *)nla_payload(a) + len, 0, NLA_ALIGN(len) - len);
	m->nlh->nlmsg_len = NLMSG_ALIGN(m->nlh->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

void nl_put_u8(struct nl_msg *m, uint16_t type, uint8_t v)
{
	nl_put(m, type, &v, 1);
}

void nl_put_u32(struct nl_msg *m, uint16_t type, uint32_t v)
{
	nl_put(m, type, &v, 4);
}

void nl_put_str(struct nl_msg *m, uint16_t type, const char *s)
{
	nl_put(m, type, s, strlen(s) + 1);
}

struct nlattr *nl_nest_start(struct nl_msg *m, uint16_t type)
{
	struct nlattr *a = NLMSG_TAIL(m->nlh);

	nl_put(m, type | NLA_F_NESTED, NULL, 0);
	return a;
}

void nl_nest_end(struct nl_msg *m, struct nlattr *nest)
{
	nest->nla_len = (char *)NLMSG_TAIL(m->nlh) - (char *)nest;
}

static void nl_parse_attrs(struct nlattr *a, int len, struct nlattr **tb, int max)
{
	memset(tb, 0, sizeof(*tb) * (max + 1));
	while (len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len) {
		int type = a->nla_type & NLA_TYPE_MASK;

		if (type <= max)
			tb[type] = a;
		len -= NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
	}
}

void nl_parse(struct nlmsghdr *nlh, struct nlattr **tb, int max)
{
	int len = nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

	nl_parse_attrs((struct nlattr *)((char *)NLMSG_DATA(nlh) + GENL_HDRLEN),
		       len, tb, max);
}

void nl_parse_nested(struct nlattr *nest, struct nlattr **tb, int max)
{
	nl_parse_attrs(nla_payload(nest), nla_payload_len(nest), tb, max);
}

static void nl_save_extack(struct nl *nl, struct nlmsghdr *nlh)
{
	struct nlmsgerr *e = NLMSG_DATA(nlh);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int off = sizeof(*e);

	nl->ext_msg[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	nl_parse_attrs((struct nlattr *)((char *)e + off),
		       (int)nlh->nlmsg_len - NLMSG_HDRLEN - off, tb,
		       NLMSGERR_ATTR_MAX);
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%s",
			 (char *)nla_payload(tb[NLMSGERR_ATTR_MSG]));
}

int nl_recv(struct nl *nl, void *buf, size_t size, int timeout_ms)
{
	struct pollfd p = { .fd = nl->fd, .events = POLLIN };
	ssize_t n;

	if (timeout_ms >= 0) {
		n = poll(&p, 1, timeout_ms);
		if (n <= 0)
			return n ? -errno : -ETIMEDOUT;
	}
	n = recv(nl->fd, buf, size, 0);
	return n < 0 ? -errno : (int)n;
}

/* Receives until the reply to seq: a message, an error or an ack. */
static int nl_wait_reply(struct nl *nl, uint32_t seq, void *reply, size_t size)
{
	static char buf[NL_BUF_SIZE * 2];
	struct nlmsghdr *nlh;
	int n;

	for (;;) {
		n = nl_recv(nl, buf, sizeof(buf), -1);
		if (n < 0)
			return n;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				nl_save_extack(nl, nlh);
				return ((struct nlmsgerr *)NLMSG_DATA(nlh))->error;
			}
			if (nlh->nlmsg_len > size)
				return -EMSGSIZE;
			memcpy(reply, nlh, nlh->nlmsg_len);
			return nlh->nlmsg_len;
		}
	}
}

int nl_call_raw(struct nl *nl, void *msg, size_t len, void *reply, size_t size)
{
	struct nlmsghdr *nlh = msg;

	if (len >= sizeof(*nlh))
		nlh->nlmsg_seq = ++nl->seq;
	if (send(nl->fd, msg, len, 0) < 0)
		return -errno;
	return nl_wait_reply(nl, nl->seq, reply, size);
}

int nl_call(struct nl *nl, struct nl_msg *m, void *reply, size_t size)
{
	return nl_call_raw(nl, m->nlh, m->nlh->nlmsg_len, reply, size);
}

int nl_dump(struct nl *nl, struct nl_msg *m,
	    void (*cb)(struct nlmsghdr *nlh, void *arg), void *arg)
{
	static char buf[NL_BUF_SIZE * 2];
	struct nlmsghdr *nlh;
	int n, count = 0;

	m->nlh->nlmsg_flags |= NLM_F_DUMP;
	m->nlh->nlmsg_seq = ++nl->seq;
	if (send(nl->fd, m->nlh, m->nlh->nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = nl_recv(nl, buf, sizeof(buf), -1);
		if (n < 0)
			return n;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != nl->seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return count;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				nl_save_extack(nl, nlh);
				return ((struct nlmsgerr *)NLMSG_DATA(nlh))->error;
			}
			if (cb)
				cb(nlh, arg);
			count++;
		}
	}
}

/* Family id and the "events" group id from nlctrl. */
static int nl_resolve(struct nl *nl)
{
	static char reply[NL_BUF_SIZE];
	struct nlattr *tb[CTRL_ATTR_MAX + 1], *grp, *gtb[CTRL_ATTR_MCAST_GRP_MAX + 1];
	struct nl_msg m;
	int len, rem;

	nl_msg_init(&m, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY);
	nl_put_str(&m, CTRL_ATTR_FAMILY_NAME, BOUNDARY_GENL_NAME);
	len = nl_call(nl, &m, reply, sizeof(reply));
	if (len < 0)
		return len;
	nl_parse((struct nlmsghdr *)reply, tb, CTRL_ATTR_MAX);
	if (!tb[CTRL_ATTR_FAMILY_ID])
		return -ENOENT;
	nl->family = *(uint16_t *)nla_payload(tb[CTRL_ATTR_FAMILY_ID]);
	if (!tb[CTRL_ATTR_MCAST_GROUPS])
		return 0;
	grp = nla_payload(tb[CTRL_ATTR_MCAST_GROUPS]);
	rem = nla_payload_len(tb[CTRL_ATTR_MCAST_GROUPS]);
	while (rem >= NLA_HDRLEN && grp->nla_len >= NLA_HDRLEN) {
		nl_parse_nested(grp, gtb, CTRL_ATTR_MCAST_GRP_MAX);
		if (gtb[CTRL_ATTR_MCAST_GRP_NAME] && gtb[CTRL_ATTR_MCAST_GRP_ID] &&
		    !strcmp(nla_payload(gtb[CTRL_ATTR_MCAST_GRP_NAME]),
			    BOUNDARY_GENL_MCGRP_EVENTS))
			nl->events_group = nla_u32(gtb[CTRL_ATTR_MCAST_GRP_ID]);
		rem -= NLA_ALIGN(grp->nla_len);
		grp = (struct nlattr *)((char *)grp + NLA_ALIGN(grp->nla_len));
	}
	return 0;
}

int nl_open(struct nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1, ret;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nl->fd < 0)
		return -errno;
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(nl->fd);
		return ret;
	}
	ret = nl_resolve(nl);
	if (ret)
		close(nl->fd);
	return ret;
}

void nl_close(struct nl *nl)
{
	close(nl->fd);
}

int nl_join_events(struct nl *nl)
{
	if (!nl->events_group)
		return -ENOENT;
	if (setsockopt(nl->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
		       &nl->events_group, sizeof(nl->events_group)) < 0)
		return -errno;
	return 0;
}
