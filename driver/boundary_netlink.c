// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink door: family "boundary", described for user space in
 * driver/netlink/boundary.yaml. Every attribute has a policy, and requests
 * are validated strictly.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "boundary.h"

enum boundary_mcgrp {
	BOUNDARY_MCGRP_EVENTS,
};

static const struct genl_multicast_group boundary_mcgrps[] = {
	[BOUNDARY_MCGRP_EVENTS] = { .name = BOUNDARY_GENL_MCGRP_EVENTS },
};

static const struct nla_policy boundary_cfg_policy[BOUNDARY_CFG_A_MAX + 1] = {
	[BOUNDARY_CFG_A_EVENT_MASK]	= NLA_POLICY_MASK(NLA_U32, BOUNDARY_EV_MASK_ALL),
	[BOUNDARY_CFG_A_NOTIFY]		= NLA_POLICY_MAX(NLA_U8, 1),
};

/* Attributes that only replies carry are rejected in requests. */
static const struct nla_policy boundary_policy[BOUNDARY_A_MAX + 1] = {
	[BOUNDARY_A_MODE]	= NLA_POLICY_MAX(NLA_U32, BOUNDARY_MODE_MAX),
	[BOUNDARY_A_LABEL]	= { .type = NLA_NUL_STRING,
				    .len = BOUNDARY_LABEL_LEN - 1 },
	[BOUNDARY_A_BLOB]	= { .type = NLA_BINARY, .len = BOUNDARY_BLOB_MAX },
	[BOUNDARY_A_THRESHOLD]	= NLA_POLICY_MIN(NLA_U32, 1),
	[BOUNDARY_A_CONFIG]	= NLA_POLICY_NESTED(boundary_cfg_policy),
	[BOUNDARY_A_ECHO]	= { .type = NLA_BINARY, .len = BOUNDARY_ECHO_MAX },
	[BOUNDARY_A_CURSOR]	= { .type = NLA_U32 },
	[BOUNDARY_A_EVENT]	= { .type = NLA_REJECT },
	[BOUNDARY_A_LOCKED]	= { .type = NLA_REJECT },
	[BOUNDARY_A_XFERS]	= { .type = NLA_REJECT },
	[BOUNDARY_A_BYTES]	= { .type = NLA_REJECT },
	[BOUNDARY_A_PAD]	= { .type = NLA_REJECT },
};

static struct genl_family boundary_genl_family;

static int boundary_nl_put_event(struct sk_buff *skb, u32 portid, u32 seq,
				 int flags, u8 cmd,
				 const struct boundary_event *ev)
{
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &boundary_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	nest = nla_nest_start(skb, BOUNDARY_A_EVENT);
	if (!nest ||
	    nla_put_u32(skb, BOUNDARY_EV_A_SEQ, ev->seq) ||
	    nla_put_u32(skb, BOUNDARY_EV_A_TYPE, ev->type) ||
	    nla_put_u32(skb, BOUNDARY_EV_A_VALUE, ev->value)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
}

void boundary_netlink_notify(const struct boundary_event *ev)
{
	struct sk_buff *msg;

	if (!genl_has_listeners(&boundary_genl_family, &init_net,
				BOUNDARY_MCGRP_EVENTS))
		return;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return;
	if (boundary_nl_put_event(msg, 0, 0, 0, BOUNDARY_CMD_EVENT, ev)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_multicast(&boundary_genl_family, msg, 0, BOUNDARY_MCGRP_EVENTS,
			  GFP_KERNEL);
}

static int boundary_nl_put_config(struct sk_buff *msg,
				  const struct boundary_dev *dev)
{
	struct nlattr *nest;

	nest = nla_nest_start(msg, BOUNDARY_A_CONFIG);
	if (!nest ||
	    nla_put_u32(msg, BOUNDARY_CFG_A_EVENT_MASK, READ_ONCE(dev->ev_mask)) ||
	    nla_put_u8(msg, BOUNDARY_CFG_A_NOTIFY, READ_ONCE(dev->ev_notify)))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

/* Caller holds dev->lock. */
static int boundary_nl_put_status(struct sk_buff *msg,
				  const struct boundary_dev *dev)
{
	u64 bytes = atomic64_read(&dev->bytes_in) +
		    atomic64_read(&dev->bytes_out);

	if (nla_put_u32(msg, BOUNDARY_A_MODE, dev->mode) ||
	    nla_put_u32(msg, BOUNDARY_A_THRESHOLD, dev->threshold) ||
	    nla_put_string(msg, BOUNDARY_A_LABEL, dev->label) ||
	    nla_put(msg, BOUNDARY_A_BLOB, dev->blob_len, dev->blob) ||
	    nla_put_u8(msg, BOUNDARY_A_LOCKED, !!dev->lock_owner) ||
	    nla_put_u64_64bit(msg, BOUNDARY_A_XFERS,
			      atomic64_read(&dev->xfers), BOUNDARY_A_PAD) ||
	    nla_put_u64_64bit(msg, BOUNDARY_A_BYTES, bytes, BOUNDARY_A_PAD))
		return -EMSGSIZE;
	return boundary_nl_put_config(msg, dev);
}

static int boundary_nl_get_status(struct sk_buff *skb, struct genl_info *info)
{
	struct boundary_dev *dev = &boundary_dev;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &boundary_genl_family, 0,
				BOUNDARY_CMD_GET_STATUS);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_free;
	}

	mutex_lock(&dev->lock);
	ret = boundary_nl_put_status(msg, dev);
	mutex_unlock(&dev->lock);
	if (ret)
		goto err_free;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return ret;
}

/*
 * Planted bug nl_missing_attr: a mode change also records the requester's
 * label, as if SET always carried both attributes.
 */
static noinline __noclone int boundary_nl_mode_with_label(struct boundary_dev *dev,
							  struct nlattr **tb,
							  u32 mode)
{
	const struct nlattr *label = tb[BOUNDARY_A_LABEL];
	int attr_len = nla_len(label);
	int ret;

	ret = boundary_set_mode(dev, mode);
	if (ret)
		return ret;
	boundary_set_label(dev, nla_data(label), strnlen(nla_data(label), attr_len),
			   BOUNDARY_DOOR_NETLINK);
	return 0;
}

/* Caller holds dev->lock. */
static int boundary_nl_set_mode(struct boundary_dev *dev, struct nlattr **tb,
				struct netlink_ext_ack *extack)
{
	u32 mode = nla_get_u32(tb[BOUNDARY_A_MODE]);
	int ret;

	if (boundary_bug_enabled(BOUNDARY_BUG_NL_MISSING_ATTR))
		ret = boundary_nl_mode_with_label(dev, tb, mode);
	else
		ret = boundary_set_mode(dev, mode);
	if (ret)
		NL_SET_ERR_MSG_ATTR(extack, tb[BOUNDARY_A_MODE],
				    "exclusive mode needs an unlocked device");
	return ret;
}

/*
 * Planted bug nl_blob_overflow: stages the blob in a buffer sized for the
 * 64-byte limit of an older protocol, with a byte loop bounded only by the
 * attribute's length.
 */
static noinline __noclone void boundary_nl_blob_stage(struct boundary_dev *dev,
						      const struct nlattr *attr)
{
	const u8 *src = nla_data(attr);
	int len = nla_len(attr);
	u8 stage[64];
	u8 *dst = stage;
	int i;

	/* Keep the compiler from bounding the loops by the array's size. */
	OPTIMIZER_HIDE_VAR(dst);
	for (i = 0; i < len; i++)
		dst[i] = src[i];
	for (i = 0; i < len; i++)
		dev->blob[i] = dst[i];
	dev->blob_len = len;
}

/* Caller holds dev->lock; the policy bounds the length. */
static void boundary_nl_set_blob(struct boundary_dev *dev,
				 const struct nlattr *attr)
{
	if (boundary_bug_enabled(BOUNDARY_BUG_NL_BLOB_OVERFLOW)) {
		boundary_nl_blob_stage(dev, attr);
		return;
	}
	dev->blob_len = nla_len(attr);
	memcpy(dev->blob, nla_data(attr), dev->blob_len);
}

static void boundary_nl_set_config(struct boundary_dev *dev,
				   struct nlattr **cfg)
{
	spin_lock(&dev->ev_lock);
	if (cfg[BOUNDARY_CFG_A_EVENT_MASK]) {
		dev->ev_mask = nla_get_u32(cfg[BOUNDARY_CFG_A_EVENT_MASK]);
		WRITE_ONCE(dev->shared->ev_mask, dev->ev_mask);
	}
	if (cfg[BOUNDARY_CFG_A_NOTIFY])
		dev->ev_notify = nla_get_u8(cfg[BOUNDARY_CFG_A_NOTIFY]);
	spin_unlock(&dev->ev_lock);
}

static int boundary_nl_check_set(struct genl_info *info, struct nlattr **cfg)
{
	struct nlattr **tb = info->attrs;
	const struct nlattr *label = tb[BOUNDARY_A_LABEL];

	if (!tb[BOUNDARY_A_MODE] && !label && !tb[BOUNDARY_A_BLOB] &&
	    !tb[BOUNDARY_A_THRESHOLD] && !tb[BOUNDARY_A_CONFIG]) {
		NL_SET_ERR_MSG(info->extack, "nothing to set");
		return -EINVAL;
	}
	if (label && !boundary_label_valid(nla_data(label),
					   strnlen(nla_data(label), nla_len(label)))) {
		NL_SET_ERR_MSG_ATTR(info->extack, label, "label must be printable");
		return -EINVAL;
	}
	if (!tb[BOUNDARY_A_CONFIG])
		return 0;
	return nla_parse_nested(cfg, BOUNDARY_CFG_A_MAX, tb[BOUNDARY_A_CONFIG],
				boundary_cfg_policy, info->extack);
}

/* Caller holds dev->lock; stops at the first attribute that fails. */
static int boundary_nl_apply(struct boundary_dev *dev, struct genl_info *info,
			     struct nlattr **cfg)
{
	struct nlattr **tb = info->attrs;
	const struct nlattr *label = tb[BOUNDARY_A_LABEL];
	int ret;

	if (tb[BOUNDARY_A_MODE]) {
		ret = boundary_nl_set_mode(dev, tb, info->extack);
		if (ret)
			return ret;
		boundary_event_post(dev, BOUNDARY_EV_MODE, dev->mode);
	}
	if (label) {
		boundary_set_label(dev, nla_data(label),
				   strnlen(nla_data(label), nla_len(label)),
				   BOUNDARY_DOOR_NETLINK);
		boundary_event_post(dev, BOUNDARY_EV_LABEL, dev->label_len);
	}
	if (tb[BOUNDARY_A_THRESHOLD]) {
		dev->threshold = nla_get_u32(tb[BOUNDARY_A_THRESHOLD]);
		boundary_event_post(dev, BOUNDARY_EV_THRESHOLD, dev->threshold);
	}
	if (tb[BOUNDARY_A_BLOB]) {
		boundary_nl_set_blob(dev, tb[BOUNDARY_A_BLOB]);
		boundary_event_post(dev, BOUNDARY_EV_BLOB, dev->blob_len);
	}
	if (tb[BOUNDARY_A_CONFIG]) {
		boundary_nl_set_config(dev, cfg);
		boundary_event_post(dev, BOUNDARY_EV_CONFIG, dev->ev_mask);
	}
	return 0;
}

static int boundary_nl_set(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *cfg[BOUNDARY_CFG_A_MAX + 1] = {};
	struct boundary_dev *dev = &boundary_dev;
	int ret;

	ret = boundary_nl_check_set(info, cfg);
	if (ret)
		return ret;

	mutex_lock(&dev->lock);
	ret = boundary_nl_apply(dev, info, cfg);
	mutex_unlock(&dev->lock);
	return ret;
}

static int boundary_nl_echo(struct sk_buff *skb, struct genl_info *info)
{
	const struct nlattr *attr = info->attrs[BOUNDARY_A_ECHO];
	struct sk_buff *msg;
	void *hdr;

	if (GENL_REQ_ATTR_CHECK(info, BOUNDARY_A_ECHO))
		return -EINVAL;

	msg = genlmsg_new(nla_total_size(nla_len(attr)), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &boundary_genl_family, 0,
				BOUNDARY_CMD_ECHO);
	if (!hdr || nla_put(msg, BOUNDARY_A_ECHO, nla_len(attr), nla_data(attr))) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/*
 * Planted bug nl_dump_spin: the up-to-date check is done in u32 arithmetic
 * that can wrap, and the ring walk after it has no bound of its own; it runs
 * with ev_lock held.
 */
static noinline __noclone u32 boundary_nl_dump_seek(const struct boundary_dev *dev,
						    u32 cursor)
{
	u32 idx = dev->ev_next % BOUNDARY_EVENT_RING;

	if (cursor + 1 >= dev->ev_next)
		return dev->ev_next;
	while (READ_ONCE(dev->events[idx].seq) <= cursor)
		idx = (idx + 1) % BOUNDARY_EVENT_RING;
	return dev->events[idx].seq;
}

/* First seq to send: newer than the cursor and still in the ring. */
static u32 boundary_nl_dump_first(const struct boundary_dev *dev, u32 cursor)
{
	u32 oldest = max_t(u32, dev->ev_next, BOUNDARY_EVENT_RING + 1) -
		     BOUNDARY_EVENT_RING;

	if (boundary_bug_enabled(BOUNDARY_BUG_NL_DUMP_SPIN))
		return boundary_nl_dump_seek(dev, cursor);
	if ((u64)cursor + 1 >= dev->ev_next)
		return dev->ev_next;
	return max(cursor + 1, oldest);
}

/* cb->args: [0] cursor, [1] started, [2] next seq to send. */
static int boundary_nl_dump_start(struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	const struct nlattr *cursor = info->attrs[BOUNDARY_A_CURSOR];

	atomic64_inc(&boundary_dev.nl_requests);
	cb->args[0] = cursor ? nla_get_u32(cursor) : 0;
	return 0;
}

static int boundary_nl_dump_events(struct sk_buff *skb,
				   struct netlink_callback *cb)
{
	struct boundary_dev *dev = &boundary_dev;
	u32 portid = NETLINK_CB(cb->skb).portid;
	u32 oldest, seq;

	spin_lock(&dev->ev_lock);
	seq = cb->args[1] ? cb->args[2] : boundary_nl_dump_first(dev, cb->args[0]);
	cb->args[1] = 1;
	/* Events may have fallen out of the ring between two parts. */
	oldest = max_t(u32, dev->ev_next, BOUNDARY_EVENT_RING + 1) -
		 BOUNDARY_EVENT_RING;
	for (seq = max(seq, oldest); seq < dev->ev_next; seq++) {
		if (boundary_nl_put_event(skb, portid, cb->nlh->nlmsg_seq,
					  NLM_F_MULTI, BOUNDARY_CMD_DUMP_EVENTS,
					  &dev->events[seq % BOUNDARY_EVENT_RING]))
			break;
	}
	cb->args[2] = seq;
	spin_unlock(&dev->ev_lock);
	return skb->len;
}

static int boundary_nl_pre_doit(const struct genl_ops *ops, struct sk_buff *skb,
				struct genl_info *info)
{
	atomic64_inc(&boundary_dev.nl_requests);
	return 0;
}

static const struct genl_ops boundary_genl_ops[] = {
	{
		.cmd	= BOUNDARY_CMD_GET_STATUS,
		.doit	= boundary_nl_get_status,
	},
	{
		.cmd	= BOUNDARY_CMD_SET,
		.doit	= boundary_nl_set,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= BOUNDARY_CMD_ECHO,
		.doit	= boundary_nl_echo,
	},
	{
		.cmd	= BOUNDARY_CMD_DUMP_EVENTS,
		.start	= boundary_nl_dump_start,
		.dumpit	= boundary_nl_dump_events,
	},
};

static struct genl_family boundary_genl_family __ro_after_init = {
	.name		= BOUNDARY_GENL_NAME,
	.version	= BOUNDARY_GENL_VERSION,
	.maxattr	= BOUNDARY_A_MAX,
	.policy		= boundary_policy,
	.parallel_ops	= true,
	.pre_doit	= boundary_nl_pre_doit,
	.module		= THIS_MODULE,
	.ops		= boundary_genl_ops,
	.n_ops		= ARRAY_SIZE(boundary_genl_ops),
	.mcgrps		= boundary_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(boundary_mcgrps),
};

int boundary_netlink_init(void)
{
	return genl_register_family(&boundary_genl_family);
}

void boundary_netlink_exit(void)
{
	genl_unregister_family(&boundary_genl_family);
}
