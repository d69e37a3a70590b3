// SPDX-License-Identifier: GPL-2.0
/*
 * boundary: a driver under test with five user-space doors (a misc device
 * with read/write/ioctl, procfs, sysfs, debugfs and generic netlink) and
 * planted bugs that stay off unless the bugs= parameter names them.
 *
 * This file owns the device state, the misc device and module init/exit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "boundary.h"

struct boundary_dev boundary_dev;

const struct boundary_owner boundary_owners[BOUNDARY_DOOR_COUNT] = {
	[BOUNDARY_DOOR_INIT]	= { BOUNDARY_DOOR_INIT, "init" },
	[BOUNDARY_DOOR_SYSFS]	= { BOUNDARY_DOOR_SYSFS, "sysfs" },
	[BOUNDARY_DOOR_NETLINK]	= { BOUNDARY_DOOR_NETLINK, "netlink" },
};

void boundary_snapshot_twins_free(struct boundary_dev *dev)
{
	kfree(dev->snapshot_twins[0]);
	kfree(dev->snapshot_twins[1]);
	dev->snapshot_twins[0] = NULL;
	dev->snapshot_twins[1] = NULL;
}

/* Caller holds dev->lock. */
int boundary_set_mode(struct boundary_dev *dev, u32 mode)
{
	if (mode > BOUNDARY_MODE_MAX)
		return -EINVAL;
	/* Exclusive mode and the LOCK flag exclude each other. */
	if (mode == BOUNDARY_MODE_EXCLUSIVE && dev->lock_owner)
		return -EBUSY;
	dev->mode = mode;
	return 0;
}

bool boundary_label_valid(const char *label, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isprint(label[i]))
			return false;
	return true;
}

/*
 * Text commands (procfs ctl, debugfs inject) are one line without NUL bytes;
 * the newline echo(1) appends is dropped. buf[count] must be NUL.
 */
int boundary_text_line(char *buf, size_t count)
{
	if (count && buf[count - 1] == '\n')
		buf[--count] = '\0';
	if (!count || strlen(buf) != count || strchr(buf, '\n'))
		return -EINVAL;
	return 0;
}

/* Caller holds dev->lock and has checked len < BOUNDARY_LABEL_LEN. */
void boundary_set_label(struct boundary_dev *dev, const char *label,
			size_t len, enum boundary_door door)
{
	memcpy(dev->label, label, len);
	dev->label[len] = '\0';
	dev->label_len = len;
	dev->owner = &boundary_owners[door];
	dev->label_gen++;
	dev->label_writes++;
}

static bool boundary_event_wanted(struct boundary_dev *dev, u32 type)
{
	if (type != BOUNDARY_EV_INJECT && READ_ONCE(dev->mode) == BOUNDARY_MODE_OFF)
		return false;
	return READ_ONCE(dev->ev_mask) & BIT(type);
}

/* Process context only: the multicast allocates with GFP_KERNEL. */
void boundary_event_post(struct boundary_dev *dev, u32 type, u32 value)
{
	struct boundary_event ev;
	bool notify;

	if (!boundary_event_wanted(dev, type))
		return;

	spin_lock(&dev->ev_lock);
	ev.seq = dev->ev_next++;
	/* seq 0 means "seen nothing" to DUMP_EVENTS; never hand it out. */
	if (!dev->ev_next)
		dev->ev_next = 1;
	ev.type = type;
	ev.value = value;
	dev->events[ev.seq % BOUNDARY_EVENT_RING] = ev;
	WRITE_ONCE(dev->shared->ev_next, dev->ev_next);
	WRITE_ONCE(dev->shared->ev_mask, READ_ONCE(dev->ev_mask));
	notify = dev->ev_notify;
	spin_unlock(&dev->ev_lock);
	wake_up_interruptible(&dev->ev_wait);

	if (notify)
		boundary_netlink_notify(&ev);
}

static int boundary_open(struct inode *inode, struct file *file)
{
	int ret;

	ret = boundary_file_open(file);
	if (!ret)
		atomic64_inc(&boundary_dev.opens);
	return ret;
}

static int boundary_release(struct inode *inode, struct file *file)
{
	boundary_file_release(file);
	return 0;
}

static ssize_t boundary_read(struct file *file, char __user *buf,
			     size_t count, loff_t *ppos)
{
	struct boundary_dev *dev = &boundary_dev;
	ssize_t ret;

	mutex_lock(&dev->lock);
	ret = simple_read_from_buffer(buf, count, ppos, dev->data,
				      dev->data_used);
	mutex_unlock(&dev->lock);
	return ret;
}

static ssize_t boundary_write(struct file *file, const char __user *buf,
			      size_t count, loff_t *ppos)
{
	struct boundary_dev *dev = &boundary_dev;
	ssize_t ret;

	if (!count)
		return 0;
	if (*ppos >= BOUNDARY_DATA_SIZE)
		return -ENOSPC;

	mutex_lock(&dev->lock);
	ret = simple_write_to_buffer(dev->data, BOUNDARY_DATA_SIZE, ppos,
				     buf, count);
	if (ret > 0 && *ppos > dev->data_used) {
		dev->data_used = *ppos;
		WRITE_ONCE(dev->shared->data_used, dev->data_used);
	}
	mutex_unlock(&dev->lock);
	if (ret > 0)
		wake_up_interruptible(&dev->ev_wait);
	return ret;
}

/* Readable once anything was written; writable while there is room. */
static __poll_t boundary_poll(struct file *file, poll_table *wait)
{
	struct boundary_dev *dev = &boundary_dev;
	__poll_t mask = 0;
	u32 used;

	poll_wait(file, &dev->ev_wait, wait);
	used = READ_ONCE(dev->data_used);
	if (used)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (used < BOUNDARY_DATA_SIZE)
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

/* The shared page is faulted in on first touch; nothing lies beyond it. */
static vm_fault_t boundary_vm_fault(struct vm_fault *vmf)
{
	struct page *page;

	if (vmf->pgoff)
		return VM_FAULT_SIGBUS;
	page = virt_to_page(boundary_dev.shared);
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct boundary_vm_ops = {
	.fault = boundary_vm_fault,
};

static int boundary_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff || vma_pages(vma) != 1)
		return -EINVAL;
	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	/* No mprotect to writable later, no mremap past the page. */
	vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &boundary_vm_ops;
	return 0;
}

static loff_t boundary_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, BOUNDARY_DATA_SIZE);
}

static const struct file_operations boundary_fops = {
	.owner		= THIS_MODULE,
	.open		= boundary_open,
	.release	= boundary_release,
	.read		= boundary_read,
	.write		= boundary_write,
	.llseek		= boundary_llseek,
	.poll		= boundary_poll,
	.mmap		= boundary_mmap,
	.unlocked_ioctl	= boundary_ioctl,
	.compat_ioctl	= boundary_compat_ioctl,
};

static void boundary_dev_setup(struct boundary_dev *dev)
{
	static const char label[] = "boundary";

	mutex_init(&dev->lock);
	spin_lock_init(&dev->ev_lock);
	init_waitqueue_head(&dev->ev_wait);
	dev->mode = BOUNDARY_MODE_CONFIG;
	dev->threshold = 100;
	boundary_set_label(dev, label, strlen(label), BOUNDARY_DOOR_INIT);
	dev->ev_next = 1;
	dev->ev_mask = BOUNDARY_EV_MASK_ALL;
	dev->ev_notify = true;
	dev->shared->ev_next = dev->ev_next;
	dev->shared->ev_mask = dev->ev_mask;

	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = KBUILD_MODNAME;
	dev->misc.fops = &boundary_fops;
	dev->misc.groups = boundary_groups;
	dev->misc.mode = 0666;
}

static void boundary_log_bugs(void)
{
	int bug, n = 0;

	for (bug = 0; bug < BOUNDARY_BUG_COUNT; bug++) {
		if (!boundary_bug_enabled(bug))
			continue;
		pr_info("planted bug enabled: %s\n", boundary_bug_name(bug));
		n++;
	}
	pr_info("loaded, %d planted bug(s) enabled\n", n);
}

static int __init boundary_init(void)
{
	struct boundary_dev *dev = &boundary_dev;
	int ret;

	ret = boundary_bugs_parse();
	if (ret)
		return ret;

	BUILD_BUG_ON(sizeof(struct boundary_shared) > PAGE_SIZE);
	dev->shared = (struct boundary_shared *)get_zeroed_page(GFP_KERNEL);
	if (!dev->shared)
		return -ENOMEM;
	boundary_dev_setup(dev);

	/* Netlink first: every other door can post events. */
	ret = boundary_netlink_init();
	if (ret)
		goto err_page;

	ret = misc_register(&dev->misc);
	if (ret)
		goto err_netlink;

	ret = boundary_procfs_init(dev);
	if (ret)
		goto err_misc;

	boundary_debugfs_init(dev);
	boundary_log_bugs();
	return 0;

err_misc:
	misc_deregister(&dev->misc);
err_netlink:
	boundary_netlink_exit();
err_page:
	free_page((unsigned long)dev->shared);
	return ret;
}

static void __exit boundary_exit(void)
{
	struct boundary_dev *dev = &boundary_dev;

	boundary_debugfs_exit();
	boundary_procfs_exit();
	misc_deregister(&dev->misc);
	boundary_netlink_exit();
	kfree(dev->snapshot);
	boundary_snapshot_twins_free(dev);
	free_page((unsigned long)dev->shared);
	pr_info("unloaded\n");
}

module_init(boundary_init);
module_exit(boundary_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Driver under test with planted bugs for the rig fuzzer");
