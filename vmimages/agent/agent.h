/* SPDX-License-Identifier: GPL-2.0 */
/* Shared state and helpers of the guest agent (agent.c, exec.c, policy.c, run.c). */
#ifndef RIG_AGENT_H
#define RIG_AGENT_H

#include <sys/types.h>

#include "../rigcov/rigcov.h"
#include "wire.h"

#define MAX_DENIED	8192
#define MAX_DENIED_RDEV	16
#define SHM_DATA	(12u << 20)	/* call outputs and coverage of one program */
#define SCRATCH		(1u << 20)	/* coverage reads and netlink replies */
#define ARENA_SIZE	(MAX_ARENA + MAX_BUFFERS * PAGE + SCRATCH)
#define KERNEL_ADDR	0xffffffff81000000ull
#define NL_RECV_MAX	65536u
#define KILL_GRACE_NS	500000000ull	/* twin: KILL_GRACE_S in rig/guest/channel.py */
#define COV_READ_MAX	(16u + RIGCOV_MAX_PCS * 4u + RIGCOV_MAX_CMPS * 24u)
#define AGENT_ABI	((u32)sizeof(void *) * 8)	/* the programs this binary runs */
#define HELPER_PATH	"/bin/rig-agent32"
/* The longest CONFIG payload decode_config() accepts. */
#define CONFIG_MAX	(12u + 4u + MAX_PATH + 2u + MAX_ALLOW * (4u + MAX_PATH) + 2u + \
			 MAX_FAMILIES * (4u + MAX_FAMILY))

/* An output buffer of fixed capacity; a write past the end sets over. */
struct obuf {
	u8 *p;
	size_t len, cap;
	int over;
};

void ob_bytes(struct obuf *o, const void *p, size_t n);
void ob_u8(struct obuf *o, u8 v);
void ob_u16(struct obuf *o, u16 v);
void ob_u32(struct obuf *o, u32 v);
void ob_u64(struct obuf *o, u64 v);
void ob_blob(struct obuf *o, const void *p, u32 n);

struct ident {
	u64 dev, ino;
};

/* What programs may touch, derived from the host's config. */
struct policy {
	int dirfd[MAX_ALLOW];		/* O_PATH fd of a directory entry, else -1 */
	u32 family_id[MAX_FAMILIES];	/* 0: not resolved */
	struct ident denied[MAX_DENIED];
	u32 ndenied;
	u64 denied_rdev[MAX_DENIED_RDEV];
	u32 nrdev;
};

/* Filled in by the child running a program, read by the agent afterwards. */
struct call_rec {
	u32 status, flags, err, pad;
	s64 ret;
	u64 dur_ns;
	u32 out_off, out_len;
	u32 pcs_off, npcs;
	u32 cmps_off, ncmps;
};

struct shm {
	u32 cur;			/* call in progress */
	u32 done;			/* calls with a result */
	u64 start_ns;			/* when the call in progress started */
	u32 cov_status, cov_errno;
	u32 used;			/* bytes of data[] in use */
	struct call_rec calls[MAX_CALLS];
	u8 data[SHM_DATA];
};

struct outcome {
	u32 status, detail;
	int stuck;			/* a timed-out child outlived its kill */
};

struct agent {
	int port;			/* the channel to the host */
	int kmsg;			/* where markers go, or -1 */
	int exit_on_eof;		/* the channel is a socket, not a port */
	dev_t port_rdev;
	int configured;
	struct config *cfg;		/* in force; the other of cfgs[] takes the next one */
	struct config cfgs[2];
	struct policy pol;
	u8 *arena;			/* reserved here, used by children */
	u64 unmapped;			/* an address no program can access */
	struct shm *shm;
	struct obuf out;
	u8 *exec_out;			/* output of a binary */
	struct prog prog;
	u32 exec_count;
	u32 stuck;			/* killed children not reaped yet */
	const char *kmsg_path;		/* passed on to the helper */
	struct helper *helper;		/* runs abi-32 programs for a 64-bit agent */
};

/* The 32-bit helper (relay.c): a rig-agent32 on the other end of a socket. */
struct helper {
	const char *path;
	pid_t pid;			/* 0: none */
	int fd;				/* -1: none */
	int configured;			/* has the config in force */
	int exited, status;		/* reaped by reap_stuck() */
	u32 cfg_len;			/* the last CONFIG payload accepted */
	u8 cfg[CONFIG_MAX];
};

/* agent.c */
u64 now_ns(void);
void marker(struct agent *a, const char *what, u64 seq);
int write_all(int fd, const u8 *p, size_t n);
void begin_reply(struct agent *a, u16 type, u32 tag);
void send_reply(struct agent *a, u32 tag);
void send_error(struct agent *a, u32 tag, u32 code, const char *msg);
void klog(struct agent *a, const char *msg, const char *arg);

/* exec.c */
void do_exec(struct agent *a, const struct frame *f);

/* policy.c */
void policy_reset(struct policy *pol);
int policy_load(struct policy *pol, const struct config *cfg, dev_t port_rdev);
int policy_open(const struct policy *pol, const struct config *cfg, const char *path,
		int flags, u32 mode, int *refused);
int family_index(const struct config *cfg, struct bytes name);
int genl_family_id(const char *name);

/* relay.c */
int helper_ready(const struct helper *h);
void helper_config(struct helper *h, const struct frame *f);
int helper_reaped(struct helper *h, pid_t pid, int status);
void relay(struct agent *a, const struct frame *f, u64 budget_ms);

/* run.c */
int shm_renew(struct agent *a);
void reap_stuck(struct agent *a);
void run_program(struct agent *a, const struct prog *p, u64 seq, struct outcome *o);
void encode_result(struct agent *a, const struct prog *p, u64 seq, const struct outcome *o);
int wait_exit(pid_t pid, int pidfd, u64 deadline_ns, int *status);
int pidfd_of(pid_t pid);

#endif
