// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs door: attributes of the misc device, /sys/class/misc/boundary/
 * {mode,threshold,label,buffer_size}. One value per write, an optional
 * trailing newline, no other bytes.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bug.h>
#include <linux/compiler.h>
#include <linux/device.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "boundary.h"

static struct boundary_dev *to_boundary(struct device *d)
{
	struct miscdevice *misc = dev_get_drvdata(d);

	return container_of(misc, struct boundary_dev, misc);
}

static ssize_t mode_show(struct device *d, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(to_boundary(d)->mode));
}

/*
 * Planted bug sysfs_mode_locked: asserts what boundary_set_mode() refuses
 * politely, so exclusive mode on a locked device brings the kernel down.
 */
static noinline __noclone void boundary_mode_assert_unlocked(const struct boundary_dev *dev,
							     u32 mode)
{
	BUG_ON(dev->lock_owner && mode == BOUNDARY_MODE_EXCLUSIVE);
}

static ssize_t mode_store(struct device *d, struct device_attribute *attr,
			  const char *buf, size_t count)
{
	struct boundary_dev *dev = to_boundary(d);
	u32 mode;
	int ret;

	ret = kstrtou32(buf, 0, &mode);
	if (ret)
		return ret;

	mutex_lock(&dev->lock);
	if (boundary_bug_enabled(BOUNDARY_BUG_SYSFS_MODE_LOCKED))
		boundary_mode_assert_unlocked(dev, mode);
	ret = boundary_set_mode(dev, mode);
	mutex_unlock(&dev->lock);
	if (ret)
		return ret;

	boundary_event_post(dev, BOUNDARY_EV_MODE, mode);
	return count;
}
static DEVICE_ATTR_RW(mode);

static ssize_t threshold_show(struct device *d, struct device_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(to_boundary(d)->threshold));
}

static ssize_t threshold_store(struct device *d, struct device_attribute *attr,
			       const char *buf, size_t count)
{
	struct boundary_dev *dev = to_boundary(d);
	u32 threshold;
	int ret;

	ret = kstrtou32(buf, 0, &threshold);
	if (ret)
		return ret;
	/* status divides by it; sysfs_threshold_zero forgets that. */
	if (!threshold &&
	    !boundary_bug_enabled(BOUNDARY_BUG_SYSFS_THRESHOLD_ZERO))
		return -EINVAL;

	mutex_lock(&dev->lock);
	dev->threshold = threshold;
	mutex_unlock(&dev->lock);

	boundary_event_post(dev, BOUNDARY_EV_THRESHOLD, threshold);
	return count;
}
static DEVICE_ATTR_RW(threshold);

static ssize_t label_show(struct device *d, struct device_attribute *attr,
			  char *buf)
{
	struct boundary_dev *dev = to_boundary(d);
	ssize_t ret;

	mutex_lock(&dev->lock);
	ret = sysfs_emit(buf, "%.*s\n", BOUNDARY_LABEL_LEN, dev->label);
	mutex_unlock(&dev->lock);
	return ret;
}

/*
 * Planted bug sysfs_label_overflow: a byte loop bounded only by the input,
 * which past 31 characters runs over dev->owner.
 */
static noinline __noclone void boundary_label_copy_unbounded(struct boundary_dev *dev,
							     const char *buf, size_t len)
{
	char *dst = dev->label;
	size_t i;

	/* Keep the compiler from bounding the loop by the array's size. */
	OPTIMIZER_HIDE_VAR(dst);
	dev->owner = &boundary_owners[BOUNDARY_DOOR_SYSFS];
	for (i = 0; i < len; i++)
		dst[i] = buf[i];
	dst[i] = '\0';
	dev->label_gen++;
	dev->label_writes++;
}

/* The label is the first line; only a newline may follow it. */
static ssize_t boundary_label_len(const char *buf, size_t count)
{
	size_t len = strcspn(buf, "\n");

	if (len == count || (len + 1 == count && buf[len] == '\n'))
		return len;
	return -EINVAL;
}

static ssize_t label_store(struct device *d, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct boundary_dev *dev = to_boundary(d);
	ssize_t len;

	len = boundary_label_len(buf, count);
	if (len < 0)
		return len;
	if (!boundary_label_valid(buf, len))
		return -EINVAL;

	if (len >= BOUNDARY_LABEL_LEN &&
	    !boundary_bug_enabled(BOUNDARY_BUG_SYSFS_LABEL_OVERFLOW))
		return -EINVAL;

	mutex_lock(&dev->lock);
	if (boundary_bug_enabled(BOUNDARY_BUG_SYSFS_LABEL_OVERFLOW))
		boundary_label_copy_unbounded(dev, buf, len);
	else
		boundary_set_label(dev, buf, len, BOUNDARY_DOOR_SYSFS);
	mutex_unlock(&dev->lock);

	boundary_event_post(dev, BOUNDARY_EV_LABEL, len);
	return count;
}
static DEVICE_ATTR_RW(label);

static ssize_t buffer_size_show(struct device *d,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", BOUNDARY_DATA_SIZE);
}
static DEVICE_ATTR_RO(buffer_size);

static struct attribute *boundary_attrs[] = {
	&dev_attr_mode.attr,
	&dev_attr_threshold.attr,
	&dev_attr_label.attr,
	&dev_attr_buffer_size.attr,
	NULL
};

static const struct attribute_group boundary_group = {
	.attrs = boundary_attrs,
};

const struct attribute_group *boundary_groups[] = {
	&boundary_group,
	NULL
};
