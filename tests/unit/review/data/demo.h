/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The UAPI header of test_rules.py's stand-in module. Each FLAW_* macro,
 * set with -D by the test (gcc for the module, the header importer's
 * preprocessor for the spec), plants the mistake one rule is about.
 */
#ifndef _UAPI_DEMO_H
#define _UAPI_DEMO_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct demo_info {
	__u32 version;
	__u32 flags;
};

struct demo_config {
	__u32 flags;
	__u32 size;
	__u64 cookie;
};

#define DEMO_IOC_MAGIC	0xD3

#ifdef FLAW_IOCTL_DIR
#define DEMO_IOC_GET_INFO	_IOW(DEMO_IOC_MAGIC, 0x01, struct demo_info)
#else
#define DEMO_IOC_GET_INFO	_IOR(DEMO_IOC_MAGIC, 0x01, struct demo_info)
#endif

#ifdef FLAW_IOCTL_SIZE
#define DEMO_IOC_SET_CONFIG	_IOW(DEMO_IOC_MAGIC, 0x02, __u32)
#else
#define DEMO_IOC_SET_CONFIG	_IOW(DEMO_IOC_MAGIC, 0x02, struct demo_config)
#endif

#ifdef FLAW_USER_LENGTH
struct demo_buf {
	__u64 addr;	/* user pointer: the bytes */
	__u32 len;	/* bytes at addr */
	__u32 reserved;	/* must be 0 */
};

#define DEMO_IOC_ECHO		_IOWR(DEMO_IOC_MAGIC, 0x04, struct demo_buf)
#endif

#ifdef FLAW_IOCTL_MAGIC
#define DEMO_IOC_RESET		_IO('x', 0x03)
#else
#define DEMO_IOC_RESET		_IO(DEMO_IOC_MAGIC, 0x03)
#endif

#endif
