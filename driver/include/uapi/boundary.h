/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * User-space ABI of the boundary driver: ioctls of /dev/boundary and the
 * "boundary" generic netlink family. Every struct has fixed-width fields and
 * explicit padding so that 32- and 64-bit callers see the same layout, except
 * struct boundary_peek: PEEK keeps a legacy native layout (a pointer and
 * longs) on purpose, so the driver carries its own 32-bit translation in its
 * compat_ioctl handler, like many real drivers.
 */
#ifndef _UAPI_LINUX_BOUNDARY_H
#define _UAPI_LINUX_BOUNDARY_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BOUNDARY_VERSION	1
#define BOUNDARY_NAME_LEN	32	/* SET_CONFIG name, NUL included */
#define BOUNDARY_LABEL_LEN	32	/* device label, NUL included */
#define BOUNDARY_DATA_SIZE	4096	/* read()/write() buffer of the device */
#define BOUNDARY_XFER_MAX	4096	/* largest per-fd transfer buffer */
#define BOUNDARY_BATCH_MAX	64	/* elements per BATCH */
#define BOUNDARY_BATCH_ELEM_MAX	256	/* bytes per BATCH element */
#define BOUNDARY_BLOB_MAX	256	/* netlink BLOB bytes */
#define BOUNDARY_ECHO_MAX	1024	/* netlink ECHO bytes */

/* Device modes (sysfs "mode", procfs "mode N", netlink MODE). */
enum boundary_mode {
	BOUNDARY_MODE_OFF,		/* no events */
	BOUNDARY_MODE_CONFIG,		/* events for configuration changes */
	BOUNDARY_MODE_VERBOSE,		/* ... and for every transfer */
	BOUNDARY_MODE_EXCLUSIVE,	/* like VERBOSE; LOCK is refused */
	BOUNDARY_MODE_MAX = BOUNDARY_MODE_EXCLUSIVE,
};

/* struct boundary_info.flags */
#define BOUNDARY_INFO_CONFIGURED	(1U << 0)	/* this fd has a config */
#define BOUNDARY_INFO_LOCKED		(1U << 1)	/* the device is locked */
#define BOUNDARY_INFO_LOCK_OWNER	(1U << 2)	/* ... by this fd */

struct boundary_info {
	__u32 version;		/* BOUNDARY_VERSION */
	__u32 flags;		/* BOUNDARY_INFO_* */
	__u32 buffer_size;	/* this fd's transfer buffer, 0 if none */
	__u32 bytes_used;	/* valid bytes in it */
	__u32 cfg_flags;	/* BOUNDARY_CFG_* of this fd */
	__u32 mode;		/* enum boundary_mode of the device */
	char name[BOUNDARY_NAME_LEN];
};

/* struct boundary_config.flags */
#define BOUNDARY_CFG_APPEND	(1U << 0)	/* copy-in appends to the data */
#define BOUNDARY_CFG_EVENTS	(1U << 1)	/* transfers post events in any mode but OFF */
#define BOUNDARY_CFG_ALL	(BOUNDARY_CFG_APPEND | BOUNDARY_CFG_EVENTS)

struct boundary_config {
	__u32 flags;		/* BOUNDARY_CFG_* */
	__u32 buffer_size;	/* 1 .. BOUNDARY_XFER_MAX */
	char name[BOUNDARY_NAME_LEN];	/* NUL-terminated */
};

enum boundary_xfer_op {
	BOUNDARY_XFER_IN,	/* user memory -> fd buffer */
	BOUNDARY_XFER_OUT,	/* fd buffer -> user memory */
};

struct boundary_xfer {
	__u64 addr;		/* user pointer */
	__u32 len;		/* <= buffer_size */
	__u32 op;		/* enum boundary_xfer_op */
	__u32 done;		/* out: bytes moved */
	__u32 reserved;		/* must be 0 */
};

/* Elements are struct boundary_xfer, elem_size apart; extra bytes ignored. */
struct boundary_batch {
	__u64 addr;		/* user pointer to the first element */
	__u32 count;		/* 0 .. BOUNDARY_BATCH_MAX */
	__u32 elem_size;	/* multiple of 8, sizeof(xfer) .. BATCH_ELEM_MAX */
};

/*
 * Legacy native layout: 24 bytes on x86-64, 12 on i386, so PEEK's ioctl
 * code differs between the two ABIs (see the comment at the top).
 */
struct boundary_peek {
	void *buf;		/* user pointer: receives the bytes */
	unsigned long len;	/* offset + len <= buffer_size */
	unsigned long offset;	/* into the fd's transfer buffer */
};

#define BOUNDARY_IOC_MAGIC	0xB7
#define BOUNDARY_IOC_GET_INFO	_IOR(BOUNDARY_IOC_MAGIC, 0x01, struct boundary_info)
#define BOUNDARY_IOC_SET_CONFIG	_IOW(BOUNDARY_IOC_MAGIC, 0x02, struct boundary_config)
#define BOUNDARY_IOC_XFER	_IOWR(BOUNDARY_IOC_MAGIC, 0x03, struct boundary_xfer)
#define BOUNDARY_IOC_BATCH	_IOW(BOUNDARY_IOC_MAGIC, 0x04, struct boundary_batch)
#define BOUNDARY_IOC_LOCK	_IO(BOUNDARY_IOC_MAGIC, 0x05)
#define BOUNDARY_IOC_UNLOCK	_IO(BOUNDARY_IOC_MAGIC, 0x06)
#define BOUNDARY_IOC_RESET	_IO(BOUNDARY_IOC_MAGIC, 0x07)
#define BOUNDARY_IOC_PEEK	_IOWR(BOUNDARY_IOC_MAGIC, 0x08, struct boundary_peek)

/* Generic netlink family; see driver/netlink/boundary.yaml. */
#define BOUNDARY_GENL_NAME		"boundary"
#define BOUNDARY_GENL_VERSION		1
#define BOUNDARY_GENL_MCGRP_EVENTS	"events"

enum boundary_cmd {
	BOUNDARY_CMD_UNSPEC,
	BOUNDARY_CMD_GET_STATUS,	/* do: reply with the status attributes */
	BOUNDARY_CMD_SET,		/* do: MODE, LABEL, BLOB, THRESHOLD, CONFIG */
	BOUNDARY_CMD_ECHO,		/* do: reply with the request's ECHO */
	BOUNDARY_CMD_DUMP_EVENTS,	/* dump: EVENT nests newer than CURSOR */
	BOUNDARY_CMD_EVENT,		/* notification on the "events" group */

	__BOUNDARY_CMD_MAX,
	BOUNDARY_CMD_MAX = __BOUNDARY_CMD_MAX - 1
};

enum boundary_attr {
	BOUNDARY_A_UNSPEC,
	BOUNDARY_A_MODE,	/* u32, 0 .. BOUNDARY_MODE_MAX */
	BOUNDARY_A_LABEL,	/* NUL-terminated string, <= 31 printable chars */
	BOUNDARY_A_BLOB,	/* binary, <= BOUNDARY_BLOB_MAX bytes */
	BOUNDARY_A_THRESHOLD,	/* u32, >= 1 */
	BOUNDARY_A_CONFIG,	/* nest of enum boundary_cfg_attr */
	BOUNDARY_A_ECHO,	/* binary, <= BOUNDARY_ECHO_MAX bytes */
	BOUNDARY_A_CURSOR,	/* u32: newest event seq already seen */
	BOUNDARY_A_EVENT,	/* reply only: nest of enum boundary_event_attr */
	BOUNDARY_A_LOCKED,	/* reply only: u8 */
	BOUNDARY_A_XFERS,	/* reply only: u64 */
	BOUNDARY_A_BYTES,	/* reply only: u64 */
	BOUNDARY_A_PAD,

	__BOUNDARY_A_MAX,
	BOUNDARY_A_MAX = __BOUNDARY_A_MAX - 1
};

enum boundary_cfg_attr {
	BOUNDARY_CFG_A_UNSPEC,
	BOUNDARY_CFG_A_EVENT_MASK,	/* u32, bits (1 << BOUNDARY_EV_*) */
	BOUNDARY_CFG_A_NOTIFY,		/* u8, 0 or 1: multicast events */

	__BOUNDARY_CFG_A_MAX,
	BOUNDARY_CFG_A_MAX = __BOUNDARY_CFG_A_MAX - 1
};

enum boundary_event_attr {
	BOUNDARY_EV_A_UNSPEC,
	BOUNDARY_EV_A_SEQ,	/* u32, starts at 1 */
	BOUNDARY_EV_A_TYPE,	/* u32, enum boundary_event_type */
	BOUNDARY_EV_A_VALUE,	/* u32 */

	__BOUNDARY_EV_A_MAX,
	BOUNDARY_EV_A_MAX = __BOUNDARY_EV_A_MAX - 1
};

enum boundary_event_type {
	BOUNDARY_EV_NONE,
	BOUNDARY_EV_MODE,
	BOUNDARY_EV_THRESHOLD,
	BOUNDARY_EV_LABEL,
	BOUNDARY_EV_BLOB,
	BOUNDARY_EV_CONFIG,
	BOUNDARY_EV_XFER,
	BOUNDARY_EV_RESET,
	BOUNDARY_EV_INJECT,
	BOUNDARY_EV_LOCK,

	__BOUNDARY_EV_MAX,
	BOUNDARY_EV_MAX = __BOUNDARY_EV_MAX - 1
};

#define BOUNDARY_EV_MASK_ALL	(((1U << __BOUNDARY_EV_MAX) - 1) & ~1U)

#endif /* _UAPI_LINUX_BOUNDARY_H */
