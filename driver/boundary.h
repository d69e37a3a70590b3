/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces shared by the files of the boundary driver.
 */
#ifndef BOUNDARY_H
#define BOUNDARY_H

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/cache.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include <uapi/boundary.h>

/* Planted bugs; names and the table live in boundary_bugs.c. */
enum boundary_bug {
	BOUNDARY_BUG_IOCTL_UNCONFIGURED,
	BOUNDARY_BUG_IOCTL_XFER_OVERFLOW,
	BOUNDARY_BUG_IOCTL_BATCH_OVERFLOW,
	BOUNDARY_BUG_IOCTL_LOCK_LEAK,
	BOUNDARY_BUG_NL_MISSING_ATTR,
	BOUNDARY_BUG_NL_BLOB_OVERFLOW,
	BOUNDARY_BUG_NL_DUMP_SPIN,
	BOUNDARY_BUG_SYSFS_LABEL_OVERFLOW,
	BOUNDARY_BUG_SYSFS_THRESHOLD_ZERO,
	BOUNDARY_BUG_SYSFS_MODE_LOCKED,
	BOUNDARY_BUG_DEBUGFS_INJECT_WARN,
	BOUNDARY_BUG_PROCFS_DOUBLE_RESET,
	BOUNDARY_BUG_DEBUGFS_CRASH_HOOK,
	BOUNDARY_BUG_COMPAT_PEEK_UNCHECKED,
	BOUNDARY_BUG_COUNT
};

extern unsigned long boundary_bugs_enabled[BITS_TO_LONGS(BOUNDARY_BUG_COUNT)];

static inline bool boundary_bug_enabled(enum boundary_bug bug)
{
	return test_bit(bug, boundary_bugs_enabled);
}

/*
 * Each bug's faulting code sits in a function of its own, next to its door,
 * marked noinline __noclone so that the report names it without a suffix.
 */
int boundary_bugs_parse(void);
const char *boundary_bug_name(enum boundary_bug bug);

/* Which door last set the label; status prints it. */
enum boundary_door {
	BOUNDARY_DOOR_INIT,
	BOUNDARY_DOOR_SYSFS,
	BOUNDARY_DOOR_NETLINK,
	BOUNDARY_DOOR_COUNT
};

struct boundary_owner {
	u32 door;
	char name[12];
};

extern const struct boundary_owner boundary_owners[BOUNDARY_DOOR_COUNT];

struct boundary_event {
	u32 seq;
	u32 type;
	u32 value;
};

#define BOUNDARY_EVENT_RING	32	/* power of two */
#define BOUNDARY_ECHO_TEXT_LEN	64
#define BOUNDARY_INJECT_POISON	0x5a	/* reserved warning code */

/* The page /dev/boundary maps (read-only): counters without a syscall. */
struct boundary_shared {
	u32 ev_next;
	u32 ev_mask;
	u32 data_used;
};

struct boundary_hook {
	int (*fn)(void *data);
	void *data;
};

struct boundary_dev {
	struct miscdevice misc;

	/* Device mutex: everything up to ev_lock. */
	struct mutex lock;
	u32 mode;
	u32 threshold;
	const struct file *lock_owner;	/* fd that LOCKed the device */
	/*
	 * label is followed by the pointer that status dereferences: the
	 * layout is part of the sysfs_label_overflow bug, keep it.
	 */
	char label[BOUNDARY_LABEL_LEN];
	const struct boundary_owner *owner;
	u32 label_len;
	u32 label_gen;
	u64 label_writes;
	u8 blob[BOUNDARY_BLOB_MAX];
	u32 blob_len;
	char echo[BOUNDARY_ECHO_TEXT_LEN];
	void *snapshot;			/* copy of the last copy-in */
	void *snapshot_twins[2];	/* kept beside it: boundary_snapshot_take */
	u32 snapshot_len;
	u32 data_used;
	u8 data[BOUNDARY_DATA_SIZE];
	struct boundary_hook *hook;	/* never registered in this driver */

	atomic64_t opens;
	atomic64_t xfers;
	atomic64_t bytes_in;
	atomic64_t bytes_out;
	atomic64_t batches;
	atomic64_t nl_requests;
	atomic64_t injected;

	/*
	 * Event ring: seq s lives in events[s % BOUNDARY_EVENT_RING]. The
	 * counters are mirrored in @shared, a page readers mmap read-only.
	 */
	spinlock_t ev_lock;
	wait_queue_head_t ev_wait;	/* woken by events and data writes */
	struct boundary_shared *shared;
	u32 ev_next;			/* seq of the next event, from 1 */
	u32 ev_mask;			/* 1 << BOUNDARY_EV_* posted */
	bool ev_notify;			/* multicast on the events group */
	struct boundary_event events[BOUNDARY_EVENT_RING];
};

extern struct boundary_dev boundary_dev;

/* boundary_main.c */
int boundary_set_mode(struct boundary_dev *dev, u32 mode);
void boundary_set_label(struct boundary_dev *dev, const char *label,
			size_t len, enum boundary_door door);
bool boundary_label_valid(const char *label, size_t len);
int boundary_text_line(char *buf, size_t count);
void boundary_event_post(struct boundary_dev *dev, u32 type, u32 value);
void boundary_snapshot_twins_free(struct boundary_dev *dev);

/* boundary_ioctl.c */
long boundary_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
#ifdef CONFIG_COMPAT
long boundary_compat_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg);
#else
#define boundary_compat_ioctl	NULL
#endif
int boundary_file_open(struct file *file);
void boundary_file_release(struct file *file);

/* boundary_procfs.c */
int boundary_procfs_init(struct boundary_dev *dev);
void boundary_procfs_exit(void);

/* boundary_sysfs.c */
extern const struct attribute_group *boundary_groups[];

/* boundary_debugfs.c */
void boundary_debugfs_init(struct boundary_dev *dev);
void boundary_debugfs_exit(void);

/* boundary_netlink.c */
int boundary_netlink_init(void);
void boundary_netlink_exit(void);
void boundary_netlink_notify(const struct boundary_event *ev);

#endif /* BOUNDARY_H */
