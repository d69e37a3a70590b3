/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the boundary selftests: the driver's paths, one-write
 * file access, and a raw generic netlink client (no libnl, static builds).
 */
#ifndef BOUNDARY_COMMON_H
#define BOUNDARY_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/netlink.h>

#include "uapi/boundary.h"
#include "rigcov.h"		/* rig's coverage module: vmimages/rigcov */

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define DEV_PATH	"/dev/boundary"
#define SYSFS_DIR	"/sys/class/misc/boundary/"
#define PROC_DIR	"/proc/boundary/"
#define DEBUGFS_DIR	"/sys/kernel/debug/boundary/"
#define BUGS_PARAM	"/sys/module/boundary/parameters/bugs"
#define COV_PATH	"/sys/kernel/debug/rigcov/cov"

/* One open + one write(2); bytes written or -errno. */
ssize_t write_file(const char *path, const void *buf, size_t len);
ssize_t write_str(const char *path, const char *s);
/* Whole file into buf (NUL-terminated); length or -errno. */
ssize_t read_file(const char *path, char *buf, size_t size);
/* Value of "key: " line in a status-like file, or -1. */
long long status_value(const char *text, const char *key);

int dev_open(void);
int dev_config(int fd, uint32_t flags, uint32_t size, const char *name);
/* ioctl result: 0 or -errno. */
int dev_xfer(int fd, void *buf, uint32_t len, uint32_t op, uint32_t *done);
/* PEEK in this program's own ABI: bytes copied or -errno. */
long dev_peek(int fd, void *buf, unsigned long len, unsigned long offset);

/* Generic netlink client. */
#define NL_BUF_SIZE	16384

struct nl {
	int fd;
	uint32_t seq;
	uint16_t family;
	uint32_t events_group;
	char ext_msg[256];	/* extack message of the last error */
};

struct nl_msg {
	struct nlmsghdr *nlh;
	char buf[NL_BUF_SIZE] __attribute__((aligned(4)));
};

int nl_open(struct nl *nl);
void nl_close(struct nl *nl);
int nl_join_events(struct nl *nl);
void nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags, uint8_t cmd);
void nl_put(struct nl_msg *m, uint16_t type, const void *data, size_t len);
void nl_put_u8(struct nl_msg *m, uint16_t type, uint8_t v);
void nl_put_u32(struct nl_msg *m, uint16_t type, uint32_t v);
void nl_put_str(struct nl_msg *m, uint16_t type, const char *s);
struct nlattr *nl_nest_start(struct nl_msg *m, uint16_t type);
void nl_nest_end(struct nl_msg *m, struct nlattr *nest);
/* Sends m; returns the reply's length in reply (0 for an ack) or -errno. */
int nl_call(struct nl *nl, struct nl_msg *m, void *reply, size_t size);
/* Sends raw bytes as they are (for malformed messages). */
int nl_call_raw(struct nl *nl, void *msg, size_t len, void *reply, size_t size);
/* Dumps: calls cb per message; number of messages or -errno. */
int nl_dump(struct nl *nl, struct nl_msg *m,
	    void (*cb)(struct nlmsghdr *nlh, void *arg), void *arg);
/* Waits up to timeout_ms for one message (multicast); length or -errno. */
int nl_recv(struct nl *nl, void *buf, size_t size, int timeout_ms);
/* Attributes after the genl header of nlh, by type (tb has max + 1 slots). */
void nl_parse(struct nlmsghdr *nlh, struct nlattr **tb, int max);
void nl_parse_nested(struct nlattr *nest, struct nlattr **tb, int max);

static inline void *nla_payload(const struct nlattr *a)
{
	return (char *)a + NLA_HDRLEN;
}

static inline int nla_payload_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static inline uint32_t nla_u32(const struct nlattr *a)
{
	return *(uint32_t *)nla_payload(a);
}

#endif /* BOUNDARY_COMMON_H */
