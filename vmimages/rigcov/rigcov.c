// SPDX-License-Identifier: GPL-2.0
/*
 * rigcov: coverage of any one module, for kernels without KCOV.
 *
 * The target module is built with -fsanitize-coverage=trace-pc,trace-cmp
 * (rig passes it through KCFLAGS; its sources are not touched), so the
 * compiler makes every basic block and comparison of the target call the
 * __sanitizer_cov_* hooks below, which this module exports. rigcov is loaded
 * first, with target=NAME; a module notifier learns the target's text range
 * when it loads, and the hooks record PC offsets in that range and
 * comparison operands for the tasks that enabled collection on
 * /sys/kernel/debug/rigcov/cov (protocol in rigcov.h).
 *
 * This module itself must not be instrumented: the hooks would call
 * themselves. A kernel built with KCOV exports these hooks already; rigcov
 * is not for such kernels (its load fails on the duplicate symbols).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/version.h>

#include "rigcov.h"

/*
 * The hooks -fsanitize-coverage=trace-pc,trace-cmp makes the compiler call.
 * Declared here only: in instrumented files they are compiler built-ins.
 */
void __sanitizer_cov_trace_pc(void);
void __sanitizer_cov_trace_cmp1(u8 a, u8 b);
void __sanitizer_cov_trace_cmp2(u16 a, u16 b);
void __sanitizer_cov_trace_cmp4(u32 a, u32 b);
void __sanitizer_cov_trace_cmp8(u64 a, u64 b);
void __sanitizer_cov_trace_const_cmp1(u8 a, u8 b);
void __sanitizer_cov_trace_const_cmp2(u16 a, u16 b);
void __sanitizer_cov_trace_const_cmp4(u32 a, u32 b);
void __sanitizer_cov_trace_const_cmp8(u64 a, u64 b);
void __sanitizer_cov_trace_switch(u64 val, u64 *cases);

#define RIGCOV_SLOTS	16	/* tasks collecting at the same time */

struct rigcov_area {
	u32 npcs;
	u32 ncmps;
	u32 flags;
	u32 pcs[RIGCOV_MAX_PCS];
	struct rigcov_cmp cmps[RIGCOV_MAX_CMPS];
};

/*
 * One per open fd. An area is only taken away from its task when that task
 * cannot be inside a hook: it is the caller, or it has finished exiting. So
 * an fd closed by another task while its task still collects is kept as an
 * orphan until then.
 */
struct rigcov_file {
	struct rigcov_area *area;
	struct task_struct *task;	/* collecting task (referenced) or NULL */
	int slot;
	bool orphan;			/* fd closed, task still collecting */
};

struct rigcov_slot {
	struct task_struct *task;
	struct rigcov_area *area;
	struct rigcov_file *file;
};

static struct rigcov_slot rigcov_slots[RIGCOV_SLOTS];
static unsigned int rigcov_active;	/* slots in use; the hooks' fast path */
static DEFINE_MUTEX(rigcov_mutex);	/* serialises slot changes */
/* The target's core text; size 0 while it is not loaded. */
static unsigned long rigcov_text_base;
static unsigned long rigcov_text_size;
static struct dentry *rigcov_dir;

static char *target;
module_param(target, charp, 0444);
MODULE_PARM_DESC(target, "name of the module whose coverage is collected");

/* Module names compare with '-' and '_' alike, as modprobe does. */
static bool rigcov_is_target(const char *name)
{
	const char *t = target;

	for (; *name && *t; name++, t++) {
		if (*name == *t)
			continue;
		if ((*name == '-' || *name == '_') && (*t == '-' || *t == '_'))
			continue;
		return false;
	}
	return *name == *t;
}

static int rigcov_module_event(struct notifier_block *nb, unsigned long action,
			       void *data)
{
	struct module *mod = data;
	unsigned long base, size;

	if (!rigcov_is_target(mod->name))
		return NOTIFY_DONE;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	base = (unsigned long)mod->mem[MOD_TEXT].base;
	size = mod->mem[MOD_TEXT].size;
#else
	base = (unsigned long)mod->core_layout.base;
	size = mod->core_layout.text_size;
#endif
	switch (action) {
	case MODULE_STATE_COMING:
		/* Size last: a hook never sees the new size with the old base. */
		WRITE_ONCE(rigcov_text_size, 0);
		WRITE_ONCE(rigcov_text_base, base);
		WRITE_ONCE(rigcov_text_size, size);
		pr_info("collecting coverage of %s (%lu bytes of text)\n",
			mod->name, size);
		break;
	case MODULE_STATE_GOING:
		WRITE_ONCE(rigcov_text_size, 0);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block rigcov_module_nb = {
	.notifier_call = rigcov_module_event,
};

/*
 * The hooks may run with user access enabled (objtool checks that), so they
 * call nothing; a task only ever finds its own slot.
 */
static __always_inline struct rigcov_area *rigcov_area_of_current(void)
{
	int i;

	if (!in_task())
		return NULL;
	for (i = 0; i < RIGCOV_SLOTS; i++)
		if (READ_ONCE(rigcov_slots[i].task) == current)
			return READ_ONCE(rigcov_slots[i].area);
	return NULL;
}

/* PC offset in the core text, or U32_MAX for init code and strangers. */
static __always_inline u32 rigcov_pc(unsigned long ip)
{
	unsigned long off = ip - READ_ONCE(rigcov_text_base);

	return off < READ_ONCE(rigcov_text_size) ? off : U32_MAX;
}

static __always_inline void rigcov_add_pc(struct rigcov_area *area, u32 pc)
{
	u32 n = area->npcs;

	if (n >= RIGCOV_MAX_PCS) {
		area->flags |= RIGCOV_FLAG_PCS_OVERFLOW;
		return;
	}
	area->pcs[n] = pc;
	WRITE_ONCE(area->npcs, n + 1);
}

static __always_inline void rigcov_add_cmp(struct rigcov_area *area, u32 type,
					   u64 arg1, u64 arg2, u32 pc)
{
	u32 n = area->ncmps;

	if (n >= RIGCOV_MAX_CMPS) {
		area->flags |= RIGCOV_FLAG_CMPS_OVERFLOW;
		return;
	}
	area->cmps[n].type = type;
	area->cmps[n].pc = pc;
	area->cmps[n].arg1 = arg1;
	area->cmps[n].arg2 = arg2;
	WRITE_ONCE(area->ncmps, n + 1);
}

/*
 * The calling task's area, and the PC offset of @ip, when that task
 * collects and @ip lies in the target's text; NULL otherwise.
 */
static __always_inline struct rigcov_area *rigcov_where(unsigned long ip,
							u32 *pc)
{
	if (likely(!READ_ONCE(rigcov_active)))
		return NULL;
	*pc = rigcov_pc(ip);
	if (*pc == U32_MAX)
		return NULL;
	return rigcov_area_of_current();
}

void notrace __sanitizer_cov_trace_pc(void)
{
	struct rigcov_area *area;
	u32 pc;

	area = rigcov_where(_RET_IP_, &pc);
	if (area)
		rigcov_add_pc(area, pc);
}
EXPORT_SYMBOL(__sanitizer_cov_trace_pc);

static __always_inline void rigcov_cmp(u32 type, u64 arg1, u64 arg2,
				       unsigned long ip)
{
	struct rigcov_area *area;
	u32 pc;

	area = rigcov_where(ip, &pc);
	if (area)
		rigcov_add_cmp(area, type, arg1, arg2, pc);
}

/* Hook names count bytes, the type field holds log2 of that. */
#define RIGCOV_DEFINE_CMP(bytes, bits, size)				\
void notrace __sanitizer_cov_trace_cmp##bytes(u##bits a, u##bits b)	\
{									\
	rigcov_cmp(size, a, b, _RET_IP_);				\
}									\
EXPORT_SYMBOL(__sanitizer_cov_trace_cmp##bytes);			\
void notrace __sanitizer_cov_trace_const_cmp##bytes(u##bits a, u##bits b) \
{									\
	rigcov_cmp((size) | RIGCOV_CMP_CONST, a, b, _RET_IP_);		\
}									\
EXPORT_SYMBOL(__sanitizer_cov_trace_const_cmp##bytes);

RIGCOV_DEFINE_CMP(1, 8, RIGCOV_CMP_SIZE(0))
RIGCOV_DEFINE_CMP(2, 16, RIGCOV_CMP_SIZE(1))
RIGCOV_DEFINE_CMP(4, 32, RIGCOV_CMP_SIZE(2))
RIGCOV_DEFINE_CMP(8, 64, RIGCOV_CMP_SIZE(3))

/* cases[0]: number of cases, cases[1]: operand size in bits, then values. */
void notrace __sanitizer_cov_trace_switch(u64 val, u64 *cases)
{
	u64 i, count = cases[0];
	u32 type;

	if (likely(!READ_ONCE(rigcov_active)))
		return;
	switch (cases[1]) {
	case 8:
		type = RIGCOV_CMP_SIZE(0);
		break;
	case 16:
		type = RIGCOV_CMP_SIZE(1);
		break;
	case 32:
		type = RIGCOV_CMP_SIZE(2);
		break;
	case 64:
		type = RIGCOV_CMP_SIZE(3);
		break;
	default:
		return;
	}
	for (i = 0; i < count; i++)
		rigcov_cmp(type | RIGCOV_CMP_CONST, cases[i + 2], val, _RET_IP_);
}
EXPORT_SYMBOL(__sanitizer_cov_trace_switch);

static void rigcov_free(struct rigcov_file *rf)
{
	vfree(rf->area);
	kfree(rf);
}

/* Caller holds rigcov_mutex; rf->task is not inside a hook. */
static void rigcov_detach(struct rigcov_file *rf)
{
	struct rigcov_slot *slot = &rigcov_slots[rf->slot];

	WRITE_ONCE(slot->task, NULL);
	slot->area = NULL;
	slot->file = NULL;
	WRITE_ONCE(rigcov_active, rigcov_active - 1);
	put_task_struct(rf->task);
	rf->task = NULL;
	rf->slot = -1;
}

/* A task past exit_files() runs no more driver code. */
static bool rigcov_task_done(const struct task_struct *task)
{
	return READ_ONCE(task->exit_state) != 0;
}

/* Caller holds rigcov_mutex: frees slots of exited tasks and orphans. */
static void rigcov_reap(void)
{
	struct rigcov_file *rf;
	int i;

	for (i = 0; i < RIGCOV_SLOTS; i++) {
		rf = rigcov_slots[i].file;
		if (!rf)
			continue;
		if (!rigcov_task_done(rf->task) &&
		    !(rf->orphan && rf->task == current))
			continue;
		rigcov_detach(rf);
		if (rf->orphan)
			rigcov_free(rf);
	}
}

static int rigcov_open(struct inode *inode, struct file *file)
{
	struct rigcov_file *rf;

	rf = kzalloc(sizeof(*rf), GFP_KERNEL);
	if (!rf)
		return -ENOMEM;
	rf->area = vzalloc(sizeof(*rf->area));
	if (!rf->area) {
		kfree(rf);
		return -ENOMEM;
	}
	rf->slot = -1;
	file->private_data = rf;
	return 0;
}

/* Caller holds rigcov_mutex. */
static int rigcov_enable(struct rigcov_file *rf)
{
	int i, free = -1;

	rigcov_reap();
	if (rf->task)
		return -EBUSY;
	for (i = 0; i < RIGCOV_SLOTS; i++) {
		if (rigcov_slots[i].task == current)
			return -EBUSY;
		if (!rigcov_slots[i].task && free < 0)
			free = i;
	}
	if (free < 0)
		return -EBUSY;

	get_task_struct(current);
	rf->task = current;
	rf->slot = free;
	rigcov_slots[free].file = rf;
	rigcov_slots[free].area = rf->area;
	WRITE_ONCE(rigcov_slots[free].task, current);
	WRITE_ONCE(rigcov_active, rigcov_active + 1);
	return 0;
}

static long rigcov_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct rigcov_file *rf = file->private_data;
	long ret = 0;

	mutex_lock(&rigcov_mutex);
	switch (cmd) {
	case RIGCOV_ENABLE:
		ret = rigcov_enable(rf);
		break;
	case RIGCOV_DISABLE:
		if (rf->task != current)
			ret = -EINVAL;
		else
			rigcov_detach(rf);
		break;
	case RIGCOV_RESET:
		WRITE_ONCE(rf->area->npcs, 0);
		WRITE_ONCE(rf->area->ncmps, 0);
		WRITE_ONCE(rf->area->flags, 0);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&rigcov_mutex);
	return ret;
}

/* Copies the part of [start, start + len) that the read window covers. */
static ssize_t rigcov_copy(char __user **ubuf, size_t *count, loff_t *pos,
			   loff_t start, const void *src, size_t len)
{
	size_t off, n;

	if (*pos < start || *pos >= start + len || !*count)
		return 0;
	off = *pos - start;
	n = min(*count, len - off);
	if (copy_to_user(*ubuf, src + off, n))
		return -EFAULT;
	*ubuf += n;
	*count -= n;
	*pos += n;
	return n;
}

static ssize_t rigcov_read(struct file *file, char __user *ubuf, size_t count,
			   loff_t *ppos)
{
	struct rigcov_area *area = ((struct rigcov_file *)file->private_data)->area;
	struct rigcov_header hdr = {
		.magic	= RIGCOV_MAGIC,
		.npcs	= min_t(u32, READ_ONCE(area->npcs), RIGCOV_MAX_PCS),
		.ncmps	= min_t(u32, READ_ONCE(area->ncmps), RIGCOV_MAX_CMPS),
		.flags	= READ_ONCE(area->flags),
	};
	size_t pcs_len = hdr.npcs * sizeof(u32);
	size_t cmps_len = hdr.ncmps * sizeof(struct rigcov_cmp);
	loff_t pos = *ppos;
	ssize_t ret, done = 0;

	ret = rigcov_copy(&ubuf, &count, &pos, 0, &hdr, sizeof(hdr));
	if (ret >= 0) {
		done += ret;
		ret = rigcov_copy(&ubuf, &count, &pos, sizeof(hdr), area->pcs,
				  pcs_len);
	}
	if (ret >= 0) {
		done += ret;
		ret = rigcov_copy(&ubuf, &count, &pos, sizeof(hdr) + pcs_len,
				  area->cmps, cmps_len);
	}
	if (ret >= 0)
		done += ret;
	*ppos = pos;
	return done ? done : ret;
}

static int rigcov_release(struct inode *inode, struct file *file)
{
	struct rigcov_file *rf = file->private_data;

	mutex_lock(&rigcov_mutex);
	rigcov_reap();
	if (rf->task && rf->task != current && !rigcov_task_done(rf->task)) {
		rf->orphan = true;
		rf = NULL;
	} else if (rf->task) {
		rigcov_detach(rf);
	}
	mutex_unlock(&rigcov_mutex);

	if (rf)
		rigcov_free(rf);
	return 0;
}

static const struct file_operations rigcov_fops = {
	.owner		= THIS_MODULE,
	.open		= rigcov_open,
	.release	= rigcov_release,
	.read		= rigcov_read,
	.llseek		= default_llseek,
	.unlocked_ioctl	= rigcov_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/* No fd is open any more (the module is going), but orphans may be left. */
static void rigcov_free_slots(void)
{
	struct rigcov_file *rf;
	int i;

	for (i = 0; i < RIGCOV_SLOTS; i++) {
		rf = rigcov_slots[i].file;
		if (!rf)
			continue;
		rigcov_detach(rf);
		rigcov_free(rf);
	}
}

static int __init rigcov_init(void)
{
	int ret;

	if (!target || !*target) {
		pr_err("target=MODULE is required\n");
		return -EINVAL;
	}
	ret = register_module_notifier(&rigcov_module_nb);
	if (ret)
		return ret;
	rigcov_dir = debugfs_create_dir("rigcov", NULL);
	/*
	 * Unsafe, that is without debugfs's proxy: the proxy forwards no
	 * compat_ioctl (6.1), and the 32-bit agent that runs abi-32 programs
	 * needs RIGCOV_*. The removal the proxy guards against cannot happen
	 * under an open fd: .owner keeps the module, and so the file.
	 */
	debugfs_create_file_unsafe("cov", 0600, rigcov_dir, NULL, &rigcov_fops);
	pr_info("waiting for module %s\n", target);
	return 0;
}

static void __exit rigcov_exit(void)
{
	debugfs_remove_recursive(rigcov_dir);
	unregister_module_notifier(&rigcov_module_nb);
	rigcov_free_slots();
}

module_init(rigcov_init);
module_exit(rigcov_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("rig: KCOV-like coverage of one module on kernels without KCOV");
