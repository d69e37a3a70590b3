// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in for a module's netlink tables, compiled with `gcc -g -c` by
 * test_import_module.py: the kernel's struct layouts (include/net/netlink.h,
 * net/rtnetlink.h, net/genetlink.h of 6.1, reduced to the members read) and
 * policies of every shape the reader handles. Not kernel code.
 */
#include <stdint.h>

#define __used __attribute__((used))

enum {
	NLA_UNSPEC, NLA_U8, NLA_U16, NLA_U32, NLA_U64, NLA_STRING, NLA_FLAG,
	NLA_MSECS, NLA_NESTED, NLA_NESTED_ARRAY, NLA_NUL_STRING, NLA_BINARY,
	NLA_S8, NLA_S16, NLA_S32, NLA_S64, NLA_BITFIELD32, NLA_REJECT,
	NLA_BE16, NLA_BE32,
};

enum nla_policy_validation {
	NLA_VALIDATE_NONE, NLA_VALIDATE_RANGE, NLA_VALIDATE_RANGE_WARN_TOO_LONG,
	NLA_VALIDATE_MIN, NLA_VALIDATE_MAX, NLA_VALIDATE_MASK,
	NLA_VALIDATE_RANGE_PTR, NLA_VALIDATE_FUNCTION,
};

struct netlink_range_validation {
	uint64_t min, max;
};

struct nla_policy {
	uint8_t type;
	uint8_t validation_type;
	uint16_t len;
	union {
		uint16_t strict_start_type;
		const struct nla_policy *nested_policy;
		struct netlink_range_validation *range;
		struct {
			int16_t min, max;
		};
	};
};

struct rtnl_link_ops {
	void *list_next, *list_prev;
	const char *kind;
	uint64_t priv_size;
	void *alloc, *setup;
	unsigned int maxtype;
	const struct nla_policy *policy;
	void *validate, *newlink, *changelink, *dellink;
	unsigned int slave_maxtype;
	const struct nla_policy *slave_policy;
};

struct genl_small_ops {
	int (*doit)(void);
	int (*dumpit)(void);
	uint8_t cmd, internal_flags, flags, validate;
};

struct genl_multicast_group {
	char name[16];
	uint8_t flags;
};

struct genl_family {
	int id;
	unsigned int hdrsize;
	char name[16];
	unsigned int version;
	unsigned int maxattr;
	uint8_t n_ops, n_small_ops, n_mcgrps;
	const struct nla_policy *policy;
	const void *ops;
	const struct genl_small_ops *small_ops;
	const struct genl_multicast_group *mcgrps;
};

static int handler(void)
{
	return 0;
}

static const struct genl_small_ops toy_ops[2] = {
	{ .cmd = 1, .doit = handler },
	{ .cmd = 5, .dumpit = handler },
};

static const struct genl_multicast_group toy_groups[1] = {
	{ .name = "events" },
};

static struct netlink_range_validation wide = { .min = 1000, .max = 100000 };

static const struct nla_policy inner_policy[3] = {
	[1] = { .type = NLA_U16 },
	[2] = { .type = NLA_S32, .validation_type = NLA_VALIDATE_RANGE, .min = -5, .max = 5 },
};

static const struct nla_policy data_policy[8] = {
	[1] = { .type = NLA_U32, .validation_type = NLA_VALIDATE_MAX, .max = 7 },
	[2] = { .type = NLA_NUL_STRING, .len = 15 },
	[3] = { .type = NLA_NESTED, .len = 2, .nested_policy = inner_policy },
	[4] = { .type = NLA_U32, .validation_type = NLA_VALIDATE_RANGE_PTR, .range = &wide },
	[5] = { .type = NLA_BINARY, .validation_type = NLA_VALIDATE_RANGE, .min = 6, .max = 6 },
	[6] = { .type = NLA_REJECT },
	[7] = { .type = NLA_FLAG },
};

static const struct nla_policy slave_policy[2] = {
	[1] = { .type = NLA_U8, .validation_type = NLA_VALIDATE_MIN, .min = 2 },
};

static struct rtnl_link_ops toy_link_ops __used = {
	.kind = "toylink",
	.maxtype = 7,
	.policy = data_policy,
	.slave_maxtype = 1,
	.slave_policy = slave_policy,
};

static const struct nla_policy family_policy_arr[4] = {
	[1] = { .type = NLA_U64 },
	[2] = { .type = NLA_STRING, .len = 31 },
	[3] = { .type = NLA_NESTED_ARRAY, .len = 2, .nested_policy = inner_policy },
};

static struct genl_family toy_family __used = {
	.name = "toyfam",
	.version = 2,
	.maxattr = 3,
	.policy = family_policy_arr,
	.n_small_ops = 2,
	.small_ops = toy_ops,
	.n_mcgrps = 1,
	.mcgrps = toy_groups,
};

/* Two kinds of compat_ioctl: the driver's own translation, and the kernel's. */
struct file;

struct file_operations {
	long (*unlocked_ioctl)(struct file *f, unsigned int cmd, unsigned long arg);
	long (*compat_ioctl)(struct file *f, unsigned int cmd, unsigned long arg);
};

long compat_ptr_ioctl(struct file *f, unsigned int cmd, unsigned long arg);

static long toy_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	return cmd + arg;
}

static long toy_compat_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	return toy_ioctl(f, cmd, arg & 0xffffffff);
}

static const struct file_operations toy_fops __used = {
	.unlocked_ioctl = toy_ioctl,
	.compat_ioctl = toy_compat_ioctl,
};

static const struct file_operations toy_plain_fops __used = {
	.unlocked_ioctl = toy_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};
