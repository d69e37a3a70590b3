// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs door: /sys/kernel/debug/boundary/{stats,inject,crash_hook}.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bug.h>
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "boundary.h"

#define BOUNDARY_INJECT_MAX	32	/* bytes per inject write */

static struct dentry *boundary_debugfs_dir;

static void boundary_stats_bugs(struct seq_file *m)
{
	int bug, n = 0;

	seq_puts(m, "bugs:");
	for (bug = 0; bug < BOUNDARY_BUG_COUNT; bug++) {
		if (!boundary_bug_enabled(bug))
			continue;
		seq_printf(m, " %s", boundary_bug_name(bug));
		n++;
	}
	seq_puts(m, n ? "\n" : " none\n");
}

static int boundary_stats_show(struct seq_file *m, void *v)
{
	struct boundary_dev *dev = m->private;

	boundary_stats_bugs(m);
	seq_printf(m, "opens: %lld\n", atomic64_read(&dev->opens));
	seq_printf(m, "xfers: %lld\n", atomic64_read(&dev->xfers));
	seq_printf(m, "batches: %lld\n", atomic64_read(&dev->batches));
	seq_printf(m, "nl_requests: %lld\n", atomic64_read(&dev->nl_requests));
	seq_printf(m, "injected: %lld\n", atomic64_read(&dev->injected));
	seq_printf(m, "event_next: %u\n", READ_ONCE(dev->ev_next));
	seq_printf(m, "event_mask: %#x\n", READ_ONCE(dev->ev_mask));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(boundary_stats);

/*
 * Planted bug debugfs_inject_warn: the reserved code is treated as
 * impossible, and WARN_ON (not _ONCE) fires on every write of it.
 */
static noinline __noclone void boundary_inject_warn(const struct boundary_dev *dev,
						    u32 code)
{
	WARN_ON(code == BOUNDARY_INJECT_POISON);
}

static int boundary_inject_warning(struct boundary_dev *dev, u32 code)
{
	if (code > U8_MAX)
		return -EINVAL;
	if (code == BOUNDARY_INJECT_POISON) {
		if (!boundary_bug_enabled(BOUNDARY_BUG_DEBUGFS_INJECT_WARN))
			return -EINVAL;
		boundary_inject_warn(dev, code);
	}
	atomic64_inc(&dev->injected);
	return 0;
}

static int boundary_inject_event(struct boundary_dev *dev, u32 value)
{
	atomic64_inc(&dev->injected);
	boundary_event_post(dev, BOUNDARY_EV_INJECT, value);
	return 0;
}

/* "warn:N" (0..255) or "event:N" (u32); N in any base kstrtou32 takes. */
static int boundary_inject_exec(struct boundary_dev *dev, char *cmd)
{
	char *arg = strchr(cmd, ':');
	u32 val;
	int ret;

	if (!arg)
		return -EINVAL;
	*arg++ = '\0';
	ret = kstrtou32(arg, 0, &val);
	if (ret)
		return ret;
	if (!strcmp(cmd, "warn"))
		return boundary_inject_warning(dev, val);
	if (!strcmp(cmd, "event"))
		return boundary_inject_event(dev, val);
	return -EINVAL;
}

static ssize_t boundary_inject_write(struct file *file, const char __user *ubuf,
				     size_t count, loff_t *ppos)
{
	char cmd[BOUNDARY_INJECT_MAX + 1];
	int ret;

	if (!count || count > BOUNDARY_INJECT_MAX)
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, count))
		return -EFAULT;
	cmd[count] = '\0';

	ret = boundary_text_line(cmd, count);
	if (!ret)
		ret = boundary_inject_exec(file->private_data, cmd);
	return ret ? ret : count;
}

static const struct file_operations boundary_inject_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= boundary_inject_write,
	.llseek	= noop_llseek,
};

/*
 * Planted bug debugfs_crash_hook: calls through the hook without checking
 * that one was ever registered (none ever is).
 */
static noinline __noclone int boundary_crash_hook_call(const struct boundary_dev *dev)
{
	const struct boundary_hook *hook = READ_ONCE(dev->hook);
	int (*fn)(void *data) = READ_ONCE(hook->fn);

	return fn(hook->data);
}

static ssize_t boundary_crash_hook_write(struct file *file,
					 const char __user *ubuf,
					 size_t count, loff_t *ppos)
{
	struct boundary_dev *dev = file->private_data;
	int ret;

	if (!READ_ONCE(dev->hook) &&
	    !boundary_bug_enabled(BOUNDARY_BUG_DEBUGFS_CRASH_HOOK))
		return -ENODEV;
	ret = boundary_crash_hook_call(dev);
	return ret ? ret : count;
}

static const struct file_operations boundary_crash_hook_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= boundary_crash_hook_write,
	.llseek	= noop_llseek,
};

/* debugfs is optional: failures leave the driver working without it. */
void boundary_debugfs_init(struct boundary_dev *dev)
{
	struct dentry *dir;

	dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	boundary_debugfs_dir = dir;
	debugfs_create_file("stats", 0444, dir, dev, &boundary_stats_fops);
	debugfs_create_file("inject", 0200, dir, dev, &boundary_inject_fops);
	debugfs_create_file("crash_hook", 0200, dir, dev,
			    &boundary_crash_hook_fops);
}

void boundary_debugfs_exit(void)
{
	debugfs_remove_recursive(boundary_debugfs_dir);
}
