// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in for a driver module, compiled with `gcc -g -c` by
 * test_rules.py: ioctl handlers named as drivers name them, and the
 * generic netlink tables with the kernel's 6.1 layouts (include/net/
 * netlink.h and net/genetlink.h, reduced to the members the rig reads).
 * Each FLAW_* macro plants the mistake one rule is about. Not kernel code.
 */
#include <stdint.h>
#include "demo.h"

#define __used __attribute__((used))
#define GENL_ADMIN_PERM 0x01

unsigned long _copy_from_user(void *to, const void *from, unsigned long n);
unsigned long _copy_to_user(void *to, const void *from, unsigned long n);

long demo_ioctl_get_info(void *argp)
{
	struct demo_info info = { .version = 1 };

	return _copy_to_user(argp, &info, sizeof(info)) ? -14 : 0;
}

long demo_ioctl_set_config(void *argp)
{
	struct demo_config cfg;

	if (_copy_from_user(&cfg, argp, sizeof(cfg)))
		return -14;
	return cfg.flags;
}

long demo_ioctl_reset(void)
{
	return 0;
}

enum {
	NLA_UNSPEC, NLA_U8, NLA_U16, NLA_U32, NLA_U64, NLA_STRING, NLA_FLAG,
	NLA_MSECS, NLA_NESTED, NLA_NESTED_ARRAY, NLA_NUL_STRING, NLA_BINARY,
};

enum nla_policy_validation {
	NLA_VALIDATE_NONE, NLA_VALIDATE_RANGE,
};

struct nla_policy {
	uint8_t type;
	uint8_t validation_type;
	uint16_t len;
	union {
		uint16_t strict_start_type;
		const struct nla_policy *nested_policy;
		struct {
			int16_t min, max;
		};
	};
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

static int demo_nl_get(void)
{
	return 0;
}

static int demo_nl_set(void)
{
	return 1;
}

static const struct nla_policy demo_policy[3] = {
	[1] = { .type = NLA_U32 },
#ifdef FLAW_NLA_UNBOUNDED
	[2] = { .type = NLA_NUL_STRING },
#else
	[2] = { .type = NLA_NUL_STRING, .len = 15 },
#endif
};

static const struct genl_small_ops demo_ops[2] = {
	{ .cmd = 1, .doit = demo_nl_get, .dumpit = demo_nl_get },
#ifdef FLAW_GENL_PERM
	{ .cmd = 2, .doit = demo_nl_set },
#else
	{ .cmd = 2, .doit = demo_nl_set, .flags = GENL_ADMIN_PERM },
#endif
};

static struct genl_family demo_family __used = {
	.name = "demo",
	.version = 1,
	.maxattr = 2,
#ifndef FLAW_GENL_POLICY
	.policy = demo_policy,
#endif
	.n_small_ops = 2,
	.small_ops = demo_ops,
};
