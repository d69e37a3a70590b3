// SPDX-License-Identifier: GPL-2.0
/*
 * Planted bugs: the bugs= parameter and the name of each bug. The faulting
 * code of each bug sits next to the door it belongs to, in a function of its
 * own; driver/README.md and driver/bugs.toml map names to those functions.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cache.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "boundary.h"

/* 0444: once loaded, nothing in the guest can switch a bug on. */
static char *bugs = "";
module_param(bugs, charp, 0444);
MODULE_PARM_DESC(bugs, "planted bugs to enable: comma-separated names, or \"all\"");

unsigned long boundary_bugs_enabled[BITS_TO_LONGS(BOUNDARY_BUG_COUNT)] __ro_after_init;

static const char * const boundary_bug_names[BOUNDARY_BUG_COUNT] = {
	[BOUNDARY_BUG_IOCTL_UNCONFIGURED]	= "ioctl_unconfigured",
	[BOUNDARY_BUG_IOCTL_XFER_OVERFLOW]	= "ioctl_xfer_overflow",
	[BOUNDARY_BUG_IOCTL_BATCH_OVERFLOW]	= "ioctl_batch_overflow",
	[BOUNDARY_BUG_IOCTL_LOCK_LEAK]		= "ioctl_lock_leak",
	[BOUNDARY_BUG_NL_MISSING_ATTR]		= "nl_missing_attr",
	[BOUNDARY_BUG_NL_BLOB_OVERFLOW]		= "nl_blob_overflow",
	[BOUNDARY_BUG_NL_DUMP_SPIN]		= "nl_dump_spin",
	[BOUNDARY_BUG_SYSFS_LABEL_OVERFLOW]	= "sysfs_label_overflow",
	[BOUNDARY_BUG_SYSFS_THRESHOLD_ZERO]	= "sysfs_threshold_zero",
	[BOUNDARY_BUG_SYSFS_MODE_LOCKED]	= "sysfs_mode_locked",
	[BOUNDARY_BUG_DEBUGFS_INJECT_WARN]	= "debugfs_inject_warn",
	[BOUNDARY_BUG_PROCFS_DOUBLE_RESET]	= "procfs_double_reset",
	[BOUNDARY_BUG_DEBUGFS_CRASH_HOOK]	= "debugfs_crash_hook",
	[BOUNDARY_BUG_COMPAT_PEEK_UNCHECKED]	= "compat_peek_unchecked",
};

const char *boundary_bug_name(enum boundary_bug bug)
{
	return boundary_bug_names[bug];
}

static int __init boundary_bug_enable(const char *name)
{
	int bug;

	if (!strcmp(name, "all")) {
		bitmap_fill(boundary_bugs_enabled, BOUNDARY_BUG_COUNT);
		return 0;
	}
	bug = match_string(boundary_bug_names, BOUNDARY_BUG_COUNT, name);
	if (bug < 0) {
		pr_err("unknown planted bug '%s' in bugs=\n", name);
		return -EINVAL;
	}
	set_bit(bug, boundary_bugs_enabled);
	return 0;
}

/* Empty names (",," or a trailing comma) are ignored. */
int __init boundary_bugs_parse(void)
{
	char *list, *cur, *name;
	int ret = 0;

	if (!bugs)
		return 0;
	list = kstrdup(bugs, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	cur = list;
	while (!ret && (name = strsep(&cur, ",")) != NULL) {
		name = strim(name);
		if (*name)
			ret = boundary_bug_enable(name);
	}
	kfree(list);
	return ret;
}
