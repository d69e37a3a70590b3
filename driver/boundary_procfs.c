// SPDX-License-Identifier: GPL-2.0
/*
 * procfs door: /proc/boundary/status (read) and /proc/boundary/ctl (text
 * commands "reset", "mode N" and "echo TEXT", one per write).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "boundary.h"

#define BOUNDARY_CTL_MAX	128	/* bytes per ctl write */

static struct proc_dir_entry *boundary_proc_dir;

/*
 * The label's owner is reached through the pointer stored right after the
 * label; sysfs_label_overflow corrupts it, and this is where that shows.
 */
static noinline __noclone void boundary_status_owner(struct seq_file *m,
						     const struct boundary_dev *dev)
{
	const struct boundary_owner *owner = READ_ONCE(dev->owner);
	u32 door = READ_ONCE(owner->door);

	seq_printf(m, "owner: %s (door %u)\n", owner->name, door);
}

/*
 * Transferred bytes per threshold unit. sysfs_threshold_zero lets a zero
 * threshold through, and this is where that shows.
 */
static noinline __noclone void boundary_status_ratio(struct seq_file *m,
						     const struct boundary_dev *dev)
{
	u64 bytes = atomic64_read(&dev->bytes_in) +
		    atomic64_read(&dev->bytes_out);
	u32 threshold = READ_ONCE(dev->threshold);

	seq_printf(m, "ratio: %llu\n", bytes / threshold);
}

static void boundary_status_counters(struct seq_file *m,
				     const struct boundary_dev *dev)
{
	seq_printf(m, "opens: %lld\n", atomic64_read(&dev->opens));
	seq_printf(m, "xfers: %lld\n", atomic64_read(&dev->xfers));
	seq_printf(m, "bytes_in: %lld\n", atomic64_read(&dev->bytes_in));
	seq_printf(m, "bytes_out: %lld\n", atomic64_read(&dev->bytes_out));
	seq_printf(m, "batches: %lld\n", atomic64_read(&dev->batches));
	seq_printf(m, "events: %u\n", READ_ONCE(dev->ev_next) - 1);
}

static int boundary_status_show(struct seq_file *m, void *v)
{
	struct boundary_dev *dev = &boundary_dev;

	mutex_lock(&dev->lock);
	seq_printf(m, "version: %d\n", BOUNDARY_VERSION);
	seq_printf(m, "mode: %u\n", dev->mode);
	seq_printf(m, "threshold: %u\n", dev->threshold);
	seq_printf(m, "locked: %d\n", dev->lock_owner ? 1 : 0);
	seq_printf(m, "label: %.*s\n", BOUNDARY_LABEL_LEN, dev->label);
	boundary_status_owner(m, dev);
	seq_printf(m, "blob: %u bytes\n", dev->blob_len);
	seq_printf(m, "snapshot: %u bytes\n", dev->snapshot_len);
	seq_printf(m, "echo: %s\n", dev->echo);
	boundary_status_counters(m, dev);
	boundary_status_ratio(m, dev);
	mutex_unlock(&dev->lock);
	return 0;
}

/*
 * Planted bug procfs_double_reset: the snapshot is freed but the pointer is
 * kept, so the next reset frees it again.
 */
static noinline __noclone void boundary_reset_snapshot_stale(struct boundary_dev *dev)
{
	kfree(dev->snapshot);
	dev->snapshot_len = 0;
}

static void boundary_reset_snapshot(struct boundary_dev *dev)
{
	kfree(dev->snapshot);
	boundary_snapshot_twins_free(dev);
	dev->snapshot = NULL;
	dev->snapshot_len = 0;
}

static int boundary_ctl_reset(struct boundary_dev *dev)
{
	mutex_lock(&dev->lock);
	if (boundary_bug_enabled(BOUNDARY_BUG_PROCFS_DOUBLE_RESET))
		boundary_reset_snapshot_stale(dev);
	else
		boundary_reset_snapshot(dev);
	atomic64_set(&dev->xfers, 0);
	atomic64_set(&dev->bytes_in, 0);
	atomic64_set(&dev->bytes_out, 0);
	atomic64_set(&dev->batches, 0);
	dev->echo[0] = '\0';
	mutex_unlock(&dev->lock);

	boundary_event_post(dev, BOUNDARY_EV_RESET, 0);
	return 0;
}

static int boundary_ctl_mode(struct boundary_dev *dev, const char *arg)
{
	u32 mode;
	int ret;

	ret = kstrtou32(arg, 0, &mode);
	if (ret)
		return ret;

	mutex_lock(&dev->lock);
	ret = boundary_set_mode(dev, mode);
	mutex_unlock(&dev->lock);

	if (!ret)
		boundary_event_post(dev, BOUNDARY_EV_MODE, mode);
	return ret;
}

static int boundary_ctl_echo(struct boundary_dev *dev, const char *text)
{
	size_t len = strlen(text);

	if (!len || len >= sizeof(dev->echo) || !boundary_label_valid(text, len))
		return -EINVAL;

	mutex_lock(&dev->lock);
	strscpy(dev->echo, text, sizeof(dev->echo));
	mutex_unlock(&dev->lock);
	return 0;
}

static int boundary_ctl_exec(struct boundary_dev *dev, char *cmd)
{
	if (!strcmp(cmd, "reset"))
		return boundary_ctl_reset(dev);
	if (str_has_prefix(cmd, "mode "))
		return boundary_ctl_mode(dev, cmd + strlen("mode "));
	if (str_has_prefix(cmd, "echo "))
		return boundary_ctl_echo(dev, cmd + strlen("echo "));
	return -EINVAL;
}

static ssize_t boundary_ctl_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	char *cmd;
	int ret;

	if (!count || count > BOUNDARY_CTL_MAX)
		return -EINVAL;
	cmd = memdup_user_nul(ubuf, count);
	if (IS_ERR(cmd))
		return PTR_ERR(cmd);

	ret = boundary_text_line(cmd, count);
	if (!ret)
		ret = boundary_ctl_exec(&boundary_dev, cmd);
	kfree(cmd);
	return ret ? ret : count;
}

static const struct proc_ops boundary_ctl_ops = {
	.proc_write	= boundary_ctl_write,
	.proc_lseek	= noop_llseek,
};

int boundary_procfs_init(struct boundary_dev *dev)
{
	boundary_proc_dir = proc_mkdir(KBUILD_MODNAME, NULL);
	if (!boundary_proc_dir)
		return -ENOMEM;
	if (!proc_create_single("status", 0444, boundary_proc_dir,
				boundary_status_show) ||
	    !proc_create("ctl", 0200, boundary_proc_dir, &boundary_ctl_ops)) {
		proc_remove(boundary_proc_dir);
		return -ENOMEM;
	}
	return 0;
}

void boundary_procfs_exit(void)
{
	proc_remove(boundary_proc_dir);
}
