/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rigcov: coverage of one kernel module, a KCOV look-alike for kernels built
 * without KCOV (rigcov.c). Shared by the module, the guest agent and the
 * bundled driver's selftests: one protocol, one header.
 *
 * debugfs file: /sys/kernel/debug/rigcov/cov; one open fd per task.
 * read() from offset 0 returns a struct rigcov_header, then npcs __u32 PC
 * offsets, then ncmps struct rigcov_cmp. PCs are offsets from the target
 * module's core text base, so they are stable across boots and KASLR.
 */
#ifndef _UAPI_LINUX_RIGCOV_H
#define _UAPI_LINUX_RIGCOV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define RIGCOV_ENABLE	_IO('c', 1)	/* start collecting for the calling task (only that task) */
#define RIGCOV_DISABLE	_IO('c', 2)
#define RIGCOV_RESET	_IO('c', 3)	/* drop what was collected */

#define RIGCOV_MAGIC	0x31564352	/* "RCV1" */
#define RIGCOV_MAX_PCS	16384
#define RIGCOV_MAX_CMPS	4096

#define RIGCOV_FLAG_PCS_OVERFLOW	(1U << 0)
#define RIGCOV_FLAG_CMPS_OVERFLOW	(1U << 1)

struct rigcov_header {
	__u32 magic;
	__u32 npcs;
	__u32 ncmps;
	__u32 flags;		/* RIGCOV_FLAG_* */
};

/* type: bit0 = one operand is a constant, bits1-2 = log2(size in bytes) */
#define RIGCOV_CMP_CONST	(1U << 0)
#define RIGCOV_CMP_SIZE(n)	((n) << 1)
#define RIGCOV_CMP_MASK		RIGCOV_CMP_SIZE(3)

struct rigcov_cmp {
	__u32 type;
	__u32 pc;
	__u64 arg1;		/* the constant, if any */
	__u64 arg2;
};

#endif /* _UAPI_LINUX_RIGCOV_H */
