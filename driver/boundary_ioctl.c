// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl door of /dev/boundary: per-fd configuration, transfers between user
 * memory and the fd's buffer, batches of transfers, peeks into the buffer and
 * the device lock flag; and the 32-bit translation of PEEK, the one ioctl
 * whose struct has a native layout.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/compat.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "boundary.h"

/* Per-fd configuration; size stays first (see boundary_xfer_unconfigured). */
struct boundary_cfg {
	u32 size;
	u32 flags;
	u32 used;
	char name[BOUNDARY_NAME_LEN];
	u8 *buf;
};

struct boundary_file {
	struct mutex lock;		/* protects cfg */
	struct boundary_cfg *cfg;
};

int boundary_file_open(struct file *file)
{
	struct boundary_file *bf;

	bf = kzalloc(sizeof(*bf), GFP_KERNEL);
	if (!bf)
		return -ENOMEM;
	mutex_init(&bf->lock);
	file->private_data = bf;
	return 0;
}

static void boundary_cfg_free(struct boundary_cfg *cfg)
{
	if (!cfg)
		return;
	kfree(cfg->buf);
	kfree(cfg);
}

void boundary_file_release(struct file *file)
{
	struct boundary_file *bf = file->private_data;
	struct boundary_dev *dev = &boundary_dev;

	/* Only this fd can make itself the owner, and it is going away. */
	if (READ_ONCE(dev->lock_owner) == file) {
		mutex_lock(&dev->lock);
		dev->lock_owner = NULL;
		mutex_unlock(&dev->lock);
	}
	boundary_cfg_free(bf->cfg);
	kfree(bf);
}

static long boundary_ioctl_get_info(struct file *file,
				    struct boundary_file *bf,
				    void __user *argp)
{
	struct boundary_info info = { .version = BOUNDARY_VERSION };
	struct boundary_dev *dev = &boundary_dev;
	const struct boundary_cfg *cfg;

	mutex_lock(&bf->lock);
	cfg = bf->cfg;
	if (cfg) {
		info.flags |= BOUNDARY_INFO_CONFIGURED;
		info.buffer_size = cfg->size;
		info.bytes_used = cfg->used;
		info.cfg_flags = cfg->flags;
		memcpy(info.name, cfg->name, sizeof(info.name));
	}
	mutex_unlock(&bf->lock);

	mutex_lock(&dev->lock);
	if (dev->lock_owner)
		info.flags |= BOUNDARY_INFO_LOCKED;
	if (dev->lock_owner == file)
		info.flags |= BOUNDARY_INFO_LOCK_OWNER;
	info.mode = dev->mode;
	mutex_unlock(&dev->lock);

	return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
}

static int boundary_config_check(const struct boundary_config *c)
{
	if (c->flags & ~BOUNDARY_CFG_ALL)
		return -EINVAL;
	if (!c->buffer_size || c->buffer_size > BOUNDARY_XFER_MAX)
		return -EINVAL;
	if (strnlen(c->name, sizeof(c->name)) == sizeof(c->name))
		return -EINVAL;
	return 0;
}

static struct boundary_cfg *boundary_cfg_alloc(const struct boundary_config *c)
{
	struct boundary_cfg *cfg;

	cfg = kzalloc(sizeof(*cfg), GFP_KERNEL);
	if (!cfg)
		return NULL;
	/* No __GFP_ACCOUNT: a 64-byte buffer must be a kmalloc-64 object. */
	cfg->buf = kzalloc(c->buffer_size, GFP_KERNEL);
	if (!cfg->buf) {
		kfree(cfg);
		return NULL;
	}
	cfg->size = c->buffer_size;
	cfg->flags = c->flags;
	memcpy(cfg->name, c->name, sizeof(cfg->name));
	return cfg;
}

static long boundary_ioctl_set_config(struct boundary_file *bf,
				      void __user *argp)
{
	struct boundary_cfg *cfg, *old;
	struct boundary_config c;
	int ret;

	if (copy_from_user(&c, argp, sizeof(c)))
		return -EFAULT;
	ret = boundary_config_check(&c);
	if (ret)
		return ret;
	cfg = boundary_cfg_alloc(&c);
	if (!cfg)
		return -ENOMEM;

	mutex_lock(&bf->lock);
	old = bf->cfg;
	bf->cfg = cfg;
	mutex_unlock(&bf->lock);

	boundary_cfg_free(old);
	boundary_event_post(&boundary_dev, BOUNDARY_EV_CONFIG, c.buffer_size);
	return 0;
}

/*
 * Caller holds dev->lock; procfs "reset" drops the snapshot.
 *
 * The snapshot is allocated between two twins of its size that live until
 * the next take, so its slab never holds it alone. That keeps the report of
 * procfs_double_reset the documented one: SLUB checks a slab's in-use count
 * before its free list, and freeing twice an object that was alone in its
 * slab reads "Slab has 0 allocated objects but 1 are to be freed" instead
 * of "Object already free" (seen when the guest's other kmalloc-128 users
 * happened to leave the snapshot a fresh slab).
 */
static void boundary_snapshot_take(struct boundary_dev *dev, const u8 *data,
				   u32 len)
{
	void *before, *copy, *after;

	if (!len)
		return;
	before = kmalloc(len, GFP_KERNEL);
	copy = kmemdup(data, len, GFP_KERNEL);
	after = kmalloc(len, GFP_KERNEL);
	if (!copy) {
		kfree(before);
		kfree(after);
		return;
	}
	kfree(dev->snapshot);
	boundary_snapshot_twins_free(dev);
	dev->snapshot = copy;
	dev->snapshot_twins[0] = before;
	dev->snapshot_twins[1] = after;
	dev->snapshot_len = len;
}

/*
 * Planted bug ioctl_xfer_overflow: copy-in trusts the caller's length, as if
 * only copy-out had ever been checked against the buffer size.
 */
static noinline __noclone int boundary_xfer_in_unchecked(struct boundary_cfg *cfg,
							 const struct boundary_xfer *x,
							 u32 off)
{
	if (copy_from_user(cfg->buf + off, u64_to_user_ptr(x->addr), x->len))
		return -EFAULT;
	return 0;
}

static int boundary_xfer_in_checked(struct boundary_cfg *cfg,
				    const struct boundary_xfer *x, u32 off)
{
	if (x->len > cfg->size)
		return -EINVAL;
	if (x->len > cfg->size - off)
		return -ENOSPC;
	if (copy_from_user(cfg->buf + off, u64_to_user_ptr(x->addr), x->len))
		return -EFAULT;
	return 0;
}

/* Caller holds bf->lock and dev->lock. */
static int boundary_xfer_in(struct boundary_file *bf, struct boundary_xfer *x)
{
	struct boundary_cfg *cfg = bf->cfg;
	u32 off = cfg->flags & BOUNDARY_CFG_APPEND ? cfg->used : 0;
	int ret;

	if (boundary_bug_enabled(BOUNDARY_BUG_IOCTL_XFER_OVERFLOW))
		ret = boundary_xfer_in_unchecked(cfg, x, off);
	else
		ret = boundary_xfer_in_checked(cfg, x, off);
	if (ret)
		return ret;

	cfg->used = off + x->len;
	x->done = x->len;
	boundary_snapshot_take(&boundary_dev, cfg->buf + off, x->len);
	return 0;
}

/* Caller holds bf->lock and dev->lock. */
static int boundary_xfer_out(struct boundary_file *bf, struct boundary_xfer *x)
{
	const struct boundary_cfg *cfg = bf->cfg;
	u32 n = min(x->len, cfg->used);

	if (x->len > cfg->size)
		return -EINVAL;
	if (copy_to_user(u64_to_user_ptr(x->addr), cfg->buf, n))
		return -EFAULT;
	x->done = n;
	return 0;
}

/* Caller holds bf->lock and dev->lock; x->op is valid. */
static int boundary_xfer_op(struct boundary_file *bf, struct boundary_xfer *x)
{
	struct boundary_dev *dev = &boundary_dev;
	bool in = x->op == BOUNDARY_XFER_IN;
	int ret;

	ret = in ? boundary_xfer_in(bf, x) : boundary_xfer_out(bf, x);
	if (ret)
		return ret;

	atomic64_inc(&dev->xfers);
	atomic64_add(x->done, in ? &dev->bytes_in : &dev->bytes_out);
	if (dev->mode >= BOUNDARY_MODE_VERBOSE ||
	    bf->cfg->flags & BOUNDARY_CFG_EVENTS)
		boundary_event_post(dev, BOUNDARY_EV_XFER, x->done);
	return 0;
}

/*
 * Planted bug ioctl_lock_leak: the device mutex is taken before the op is
 * looked at, and the error path for an unknown op returns with it held, so
 * the next transfer blocks here for good.
 */
static noinline __noclone int boundary_xfer_leaky_op(struct boundary_file *bf,
						      struct boundary_xfer *x)
{
	struct boundary_dev *dev = &boundary_dev;
	int ret;

	mutex_lock(&dev->lock);
	if (x->op > BOUNDARY_XFER_OUT)
		return -EINVAL;
	ret = boundary_xfer_op(bf, x);
	mutex_unlock(&dev->lock);
	return ret;
}

/*
 * Planted bug ioctl_unconfigured: the copy-out length is checked against the
 * fd's buffer before anything makes sure the fd has one.
 */
static noinline __noclone int boundary_xfer_unconfigured(const struct boundary_file *bf,
							 const struct boundary_xfer *x)
{
	const struct boundary_cfg *cfg = READ_ONCE(bf->cfg);
	u32 size = READ_ONCE(cfg->size);

	return x->op == BOUNDARY_XFER_OUT && x->len > size ? -EINVAL : 0;
}

/* Caller holds bf->lock. */
static int boundary_xfer(struct boundary_file *bf, struct boundary_xfer *x)
{
	struct boundary_dev *dev = &boundary_dev;
	int ret;

	if (x->reserved)
		return -EINVAL;
	if (boundary_bug_enabled(BOUNDARY_BUG_IOCTL_UNCONFIGURED)) {
		ret = boundary_xfer_unconfigured(bf, x);
		if (ret)
			return ret;
	}
	if (!bf->cfg)
		return -EINVAL;
	if (boundary_bug_enabled(BOUNDARY_BUG_IOCTL_LOCK_LEAK))
		return boundary_xfer_leaky_op(bf, x);
	if (x->op > BOUNDARY_XFER_OUT)
		return -EINVAL;

	mutex_lock(&dev->lock);
	ret = boundary_xfer_op(bf, x);
	mutex_unlock(&dev->lock);
	return ret;
}

static long boundary_ioctl_xfer(struct boundary_file *bf, void __user *argp)
{
	struct boundary_xfer x;
	int ret;

	if (copy_from_user(&x, argp, sizeof(x)))
		return -EFAULT;
	x.done = 0;

	mutex_lock(&bf->lock);
	ret = boundary_xfer(bf, &x);
	mutex_unlock(&bf->lock);
	if (ret)
		return ret;
	return copy_to_user(argp, &x, sizeof(x)) ? -EFAULT : 0;
}

static int boundary_batch_check_elem(u32 elem_size)
{
	if (elem_size < sizeof(struct boundary_xfer) ||
	    elem_size > BOUNDARY_BATCH_ELEM_MAX || elem_size % 8)
		return -EINVAL;
	return 0;
}

static const void __user *boundary_batch_elem(const struct boundary_batch *b,
					      u32 i)
{
	return u64_to_user_ptr(b->addr + (u64)i * b->elem_size);
}

static void *boundary_batch_stage(const struct boundary_batch *b)
{
	struct boundary_xfer *ops;
	u32 i;

	if (b->count > BOUNDARY_BATCH_MAX || boundary_batch_check_elem(b->elem_size))
		return ERR_PTR(-EINVAL);
	ops = kvmalloc_array(b->count, sizeof(*ops), GFP_KERNEL);
	if (!ops)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < b->count; i++) {
		if (copy_from_user(&ops[i], boundary_batch_elem(b, i),
				   sizeof(ops[i]))) {
			kvfree(ops);
			return ERR_PTR(-EFAULT);
		}
	}
	return ops;
}

/*
 * Planted bug ioctl_batch_overflow: the staging area is sized by a product
 * computed in u32, which a large count wraps to a few bytes; the element
 * stores below then run off the end of the vmalloc area.
 */
static noinline __noclone void *boundary_batch_stage_wrapped(const struct boundary_batch *b)
{
	u32 total = b->count * b->elem_size;
	struct boundary_xfer x;
	u8 *stage;
	u32 i;

	if (boundary_batch_check_elem(b->elem_size) || !total ||
	    total > BOUNDARY_BATCH_MAX * BOUNDARY_BATCH_ELEM_MAX)
		return ERR_PTR(-EINVAL);
	stage = vmalloc(total);
	if (!stage)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < b->count; i++) {
		if (copy_from_user(&x, boundary_batch_elem(b, i), sizeof(x))) {
			vfree(stage);
			return ERR_PTR(-EFAULT);
		}
		*(struct boundary_xfer *)(stage + (size_t)i * b->elem_size) = x;
	}
	return stage;
}

/* Caller holds bf->lock; returns the number of transfers done. */
static long boundary_batch_run(struct boundary_file *bf, u8 *stage,
			       size_t stride, u32 count)
{
	u32 i;
	int ret;

	for (i = 0; i < count; i++) {
		ret = boundary_xfer(bf, (struct boundary_xfer *)(stage + i * stride));
		if (ret)
			return ret;
	}
	return count;
}

static long boundary_ioctl_batch(struct boundary_file *bf, void __user *argp)
{
	struct boundary_batch b;
	size_t stride;
	void *stage;
	long ret;

	if (copy_from_user(&b, argp, sizeof(b)))
		return -EFAULT;
	if (!b.count)
		return 0;

	mutex_lock(&bf->lock);
	if (!bf->cfg) {
		ret = -EINVAL;
		goto out;
	}
	if (boundary_bug_enabled(BOUNDARY_BUG_IOCTL_BATCH_OVERFLOW)) {
		stage = boundary_batch_stage_wrapped(&b);
		stride = b.elem_size;
	} else {
		stage = boundary_batch_stage(&b);
		stride = sizeof(struct boundary_xfer);
	}
	if (IS_ERR(stage)) {
		ret = PTR_ERR(stage);
		goto out;
	}
	ret = boundary_batch_run(bf, stage, stride, b.count);
	kvfree(stage);
	atomic64_inc(&boundary_dev.batches);
out:
	mutex_unlock(&bf->lock);
	return ret;
}

/* struct boundary_peek is UAPI: its user pointer sits in a plain field. */
static void __user *boundary_peek_buf(const struct boundary_peek *p)
{
	return (void __force __user *)p->buf;
}

/* Caller holds bf->lock; cfg is set. Copies what was written, not beyond. */
static long boundary_peek_copy(const struct boundary_cfg *cfg,
			       const struct boundary_peek *p)
{
	unsigned long n = 0;

	if (p->offset > cfg->size || p->len > cfg->size - p->offset)
		return -EINVAL;
	if (p->offset < cfg->used)
		n = min_t(unsigned long, p->len, cfg->used - p->offset);
	if (copy_to_user(boundary_peek_buf(p), cfg->buf + p->offset, n))
		return -EFAULT;
	return n;
}

/* Native and fixed 32-bit PEEK alike: bytes copied or -errno. */
static long boundary_peek(struct boundary_file *bf,
			  const struct boundary_peek *p)
{
	long ret;

	mutex_lock(&bf->lock);
	ret = bf->cfg ? boundary_peek_copy(bf->cfg, p) : -EINVAL;
	mutex_unlock(&bf->lock);
	return ret;
}

static long boundary_ioctl_peek(struct boundary_file *bf, void __user *argp)
{
	struct boundary_peek p;

	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	return boundary_peek(bf, &p);
}

static long boundary_ioctl_lock(struct file *file)
{
	struct boundary_dev *dev = &boundary_dev;
	long ret = 0;

	mutex_lock(&dev->lock);
	if (dev->lock_owner || dev->mode == BOUNDARY_MODE_EXCLUSIVE)
		ret = -EBUSY;
	else
		dev->lock_owner = file;
	mutex_unlock(&dev->lock);

	if (!ret)
		boundary_event_post(dev, BOUNDARY_EV_LOCK, 1);
	return ret;
}

static long boundary_ioctl_unlock(struct file *file)
{
	struct boundary_dev *dev = &boundary_dev;
	long ret = 0;

	mutex_lock(&dev->lock);
	if (!dev->lock_owner)
		ret = -EINVAL;
	else if (dev->lock_owner != file)
		ret = -EPERM;
	else
		dev->lock_owner = NULL;
	mutex_unlock(&dev->lock);

	if (!ret)
		boundary_event_post(dev, BOUNDARY_EV_LOCK, 0);
	return ret;
}

static long boundary_ioctl_reset(struct boundary_file *bf)
{
	struct boundary_cfg *cfg;

	mutex_lock(&bf->lock);
	cfg = bf->cfg;
	bf->cfg = NULL;
	mutex_unlock(&bf->lock);

	boundary_cfg_free(cfg);
	return 0;
}

long boundary_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct boundary_file *bf = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case BOUNDARY_IOC_GET_INFO:
		return boundary_ioctl_get_info(file, bf, argp);
	case BOUNDARY_IOC_SET_CONFIG:
		return boundary_ioctl_set_config(bf, argp);
	case BOUNDARY_IOC_XFER:
		return boundary_ioctl_xfer(bf, argp);
	case BOUNDARY_IOC_BATCH:
		return boundary_ioctl_batch(bf, argp);
	case BOUNDARY_IOC_LOCK:
		return boundary_ioctl_lock(file);
	case BOUNDARY_IOC_UNLOCK:
		return boundary_ioctl_unlock(file);
	case BOUNDARY_IOC_RESET:
		return boundary_ioctl_reset(bf);
	case BOUNDARY_IOC_PEEK:
		return boundary_ioctl_peek(bf, argp);
	default:
		return -ENOTTY;
	}
}

#ifdef CONFIG_COMPAT
/*
 * struct boundary_peek as a 32-bit caller lays it out: 12 bytes, so the
 * 32-bit PEEK has an ioctl code of its own. Not UAPI: only this translation
 * needs it.
 */
struct boundary_peek32 {
	compat_uptr_t buf;
	compat_ulong_t len;
	compat_ulong_t offset;
};

#define BOUNDARY_IOC_PEEK32	_IOWR(BOUNDARY_IOC_MAGIC, 0x08, struct boundary_peek32)

/*
 * Planted bug compat_peek_unchecked: the 32-bit translation grew a copy path
 * of its own, whose bounds check looks at the offset and never at offset +
 * len, so a len beyond the buffer copies whatever follows it in the heap.
 */
static noinline __noclone long boundary_peek_compat_unchecked(struct boundary_file *bf,
							      const struct boundary_peek *p)
{
	const struct boundary_cfg *cfg;
	long ret = -EINVAL;

	mutex_lock(&bf->lock);
	cfg = bf->cfg;
	if (cfg && p->offset <= cfg->size) {
		if (copy_to_user(boundary_peek_buf(p), cfg->buf + p->offset, p->len))
			ret = -EFAULT;
		else
			ret = p->len;
	}
	mutex_unlock(&bf->lock);
	return ret;
}

static long boundary_compat_peek(struct boundary_file *bf, unsigned long arg)
{
	struct boundary_peek32 p32;
	struct boundary_peek p;

	if (copy_from_user(&p32, compat_ptr(arg), sizeof(p32)))
		return -EFAULT;
	p.buf = (void __force *)compat_ptr(p32.buf);
	p.len = p32.len;
	p.offset = p32.offset;
	if (boundary_bug_enabled(BOUNDARY_BUG_COMPAT_PEEK_UNCHECKED))
		return boundary_peek_compat_unchecked(bf, &p);
	return boundary_peek(bf, &p);
}

/*
 * Every struct but PEEK's is the same in both ABIs, so compat_ptr_ioctl
 * (which only widens the pointer argument) serves the rest. The native PEEK
 * code also gets there: a 32-bit caller may well lay out the 64-bit struct.
 */
long boundary_compat_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	if (cmd == BOUNDARY_IOC_PEEK32)
		return boundary_compat_peek(file->private_data, arg);
	return compat_ptr_ioctl(file, cmd, arg);
}
#endif
