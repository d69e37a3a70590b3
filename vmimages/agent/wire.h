/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wire formats between the host and the guest agent, and their decoders.
 *
 * Twin of rig/prog/wire.py (programs) and rig/guest/protocol.py (frames and
 * messages): change them together. All integers are little-endian, there is
 * no padding, and every length is checked before it is used.
 *
 * Frames, both ways:
 *	u32 magic 0x41474952 ("RIGA") | u16 type | u16 flags (0) | u32 tag | u32 len
 *	| payload[len]
 * A reply carries the tag of its request. len is at most MAX_REQUEST towards
 * the agent and MAX_REPLY towards the host.
 *
 * Requests (host -> agent) and their replies:
 *	HELLO  1  u32 version | u64 nonce
 *	   0x81   u32 version | u64 nonce | u32 pid | u32 max_request | u32 features
 *		  | str release
 *		  features: FEAT_ABI32 (1) the agent can run abi-32 programs
 *	CONFIG 2  u32 call_ms | u32 max_output | u32 flags | str cov_path (empty: none)
 *		  | u16 npaths | str path * npaths | u16 nfamilies | str family * nfamilies
 *	   0x82   u16 nfamilies | u32 id * nfamilies (0: unresolved) | u32 ndenied
 *	RUN    3  u64 seq | u32 flags (0) | program
 *	   0x83   result (below)
 *	EXEC   4  u32 timeout_ms | u32 max_output | u16 argc | str arg * argc | blob binary
 *	   0x84   u32 status | i32 code | u64 duration_ns | u32 flags | blob output
 *	BENCH  5  u64 seq_base | u32 count | u32 max_ms | program
 *	   0x85   u32 done | u32 timeouts | u32 died | u64 elapsed_ns
 *	any       0xff ERROR: u32 code | str message   (tag 0 when no request is known)
 *
 * A 64-bit agent runs an abi-32 program (RUN or BENCH) in a 32-bit helper,
 * rig-agent32 -f FD, started when the first one comes: it sends the helper
 * the last CONFIG, then the request frame as it came, and sends the host the
 * helper's reply frame as it came. When the helper is missing, dies or stops
 * answering, the reply is ERROR E_HELPER saying why; the next abi-32 request
 * starts a new helper.
 *
 * A path in the allowlist that ends in '/' allows everything beneath that
 * directory; otherwise it allows exactly that file.
 *
 * Result of a program:
 *	u64 seq | u32 status | u32 detail | u32 cov_status | u32 cov_errno | u32 ncalls
 *	| call_result * ncalls
 *	call_result := u8 status | u8 flags | u16 zero | u32 errno | i64 ret
 *		| u64 duration_ns | blob output | u32 npcs | u32 pc * npcs
 *		| u32 ncmps | (u32 type | u32 pc | u64 arg1 | u64 arg2) * ncmps
 *
 * Programs:
 *	program := u32 magic 0x50474952 ("RIGP") | u16 version (3) | u16 ncalls
 *		| u32 abi (64, or 32: run in a 32-bit process) | call * ncalls
 *	call    := u8 kind | u8 thread | u16 zero | u32 size | body (exactly size bytes)
 *	bodies:  1 open u32 flags | u32 mode | str path;  2 close u32 fd;
 *		 3 read u32 fd | u32 count;  4 write u32 fd | blob data;
 *		 5 ioctl u32 fd | u32 cmd | arg;  6 nl_socket u32 protocol (<= 31);
 *		 7 nl_send u32 sock | str family | blob msg;
 *		 8 file_write str path | blob data;  9 file_read str path | u32 count;
 *		 10 mmap u32 fd | u32 prot | u32 flags | u32 touch | u64 length
 *		 | u64 offset;  11 munmap u32 map;  12 poll u32 fd | u32 events
 *	str, blob := u32 len | bytes (str: printable ASCII)
 *	fd      := index of an earlier open (sock: nl_socket) call, 0xffffffff for -1
 *	map     := index of an earlier mmap call, 0xffffffff for none
 *	arg     := u8 tag: 0 int u64 value (top level only); 1 null; 2 unmapped;
 *		   3 kernel; 4 buffer u32 size | u32 mapped (0xffffffff: all)
 *		   | blob data | u16 nptrs | (u32 offset | u8 width | arg) * nptrs
 *	width   := 8 (a 64-bit pointer, or a __u64 carrying one) or 4 (a pointer
 *		   in a 32-bit layout, compat_uptr_t): the pointer is the low
 *		   width bytes of the address, little-endian
 * Limits are the MAX_ values below (rig/prog/program.py has the same).
 */
#ifndef RIG_AGENT_WIRE_H
#define RIG_AGENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

#define FRAME_MAGIC	0x41474952u
#define FRAME_HDR	16
#define PROTO_VERSION	1
#define MAX_REQUEST	(33u << 20)
#define MAX_REPLY	(16u << 20)

enum msg_type {
	T_HELLO = 1, T_CONFIG = 2, T_RUN = 3, T_EXEC = 4, T_BENCH = 5,
	T_REPLY = 0x80, T_ERROR = 0xff,
};

enum err_code {
	E_BAD_FRAME = 1, E_UNKNOWN_TYPE = 2, E_MALFORMED = 3,
	E_NOT_CONFIGURED = 4, E_INTERNAL = 5, E_TOO_LARGE = 6,
	E_HELPER = 7,		/* the 32-bit helper is missing, died or is silent */
};

#define FEAT_ABI32	1u	/* HELLO features: abi-32 programs can run */

/* Program limits (twin: rig/prog/program.py). */
#define PROG_MAGIC	0x50474952u
#define PROG_VERSION	3	/* 2: nl_socket carries its protocol; 3: abi, widths */
#define ABI_64		64u
#define ABI_32		32u
#define MAX_CALLS	256
#define MAX_PATH	4095
#define MAX_FAMILY	15
#define MAX_IO		(16u << 20)
#define MAX_BUFFERS	1024
#define MAX_DEPTH	8
#define MAX_PTRS	64
#define MAX_RELOCS	4096
#define MAX_ARENA	(32u << 20)
#define MAX_ARGS	(MAX_CALLS + MAX_RELOCS)
#define NO_FD		0xffffffffu
#define ALL_MAPPED	0xffffffffu
#define PAGE		4096u
#define MAP_PROTS	0x3u		/* PROT_READ | PROT_WRITE */
#define MAP_FLAGS_OK	0x4003u		/* MAP_SHARED | MAP_PRIVATE | MAP_NORESERVE */
#define MAX_MAP		(1ull << 40)
#define TOUCH_READ	1u
#define TOUCH_WRITE	2u
#define MAX_TOUCH	256u
#define POLL_EVENTS	0xffffu
#define MAX_NL_PROTOCOL	31u		/* MAX_LINKS - 1 */
/*
 * A family named "@route" is no generic netlink family: nl_send leaves the
 * message as it is and sends it only on a NETLINK_ROUTE socket (rtnetlink).
 * Twin: RAW_FAMILIES in rig/prog/program.py.
 */
#define RAW_ROUTE	"@route"

/* Config limits (twin: rig/guest/protocol.py). */
#define MAX_ALLOW	64
#define MAX_FAMILIES	16
#define MAX_OUTPUT	(1u << 20)
#define MAX_CALL_MS	600000u
#define CFG_COV_DEDUP	1u
#define CFG_NO_MARKERS	2u
#define CFG_FLAGS	(CFG_COV_DEDUP | CFG_NO_MARKERS)

/* Exec and bench limits. */
#define MAX_ARGC	32
#define MAX_EXEC_MS	3600000u
#define MAX_BENCH	10000000u

enum call_kind {
	K_OPEN = 1, K_CLOSE, K_READ, K_WRITE, K_IOCTL,
	K_NL_SOCKET, K_NL_SEND, K_FILE_WRITE, K_FILE_READ,
	K_MMAP, K_MUNMAP, K_POLL,
};

enum arg_tag { A_INT, A_NULL, A_UNMAPPED, A_KERNEL, A_BUFFER };

enum prog_status { P_OK, P_TIMED_OUT, P_DIED, P_SETUP_FAILED };
enum call_status { C_OK, C_NOT_RUN, C_TIMED_OUT, C_REFUSED, C_FAILED };
enum call_flags {
	CF_TRUNCATED = 1, CF_PCS_OVERFLOW = 2, CF_CMPS_OVERFLOW = 4,
	CF_COV_ERROR = 8, CF_COV_DROPPED = 16, CF_ALL = 31,
};
enum cov_status { COV_OFF, COV_ON, COV_UNAVAILABLE };
enum exec_status { X_EXITED, X_SIGNALED, X_TIMED_OUT, X_FAILED };

struct bytes {
	const u8 *p;
	u32 len;
};

/* One ioctl argument or pointer target; buffers point to their pointers. */
struct arg {
	u8 tag;
	u8 crossing;		/* mapped bytes end where an unmapped page starts */
	u64 value;		/* A_INT */
	u32 size, mapped;	/* A_BUFFER; mapped == size unless crossing */
	struct bytes data;
	u32 first_ptr, nptrs;	/* into prog.ptrs */
};

struct ptr {
	u32 offset;
	u8 width;		/* 8 or 4 bytes */
	u32 target;		/* into prog.args */
};

struct call {
	u8 kind, thread;
	u32 fd;			/* index of an earlier call, or NO_FD */
	/* mmap: prot in mode, touch in count; nl_socket: protocol in count */
	u32 flags, mode, cmd, count;
	u64 length, offset;	/* mmap */
	struct bytes str;	/* path or family */
	struct bytes data;	/* write data or netlink message */
	u32 arg;		/* into prog.args */
};

struct prog {
	u32 abi;		/* ABI_64 or ABI_32 */
	u32 ncalls, nargs, nptrs, nbuffers;
	u64 arena;		/* bytes of arena the program needs */
	struct call calls[MAX_CALLS];
	struct arg args[MAX_ARGS];
	struct ptr ptrs[MAX_RELOCS];
};

struct config {
	u32 call_ms, max_output, flags;
	char cov_path[MAX_PATH + 1];
	u32 npaths, nfamilies;
	char paths[MAX_ALLOW][MAX_PATH + 1];
	char families[MAX_FAMILIES][MAX_FAMILY + 1];
};

struct exec_req {
	u32 timeout_ms, max_output, argc;
	char *argv[MAX_ARGC + 1];
	struct bytes binary;
};

struct frame {
	u16 type, flags;
	u32 tag, len;
	const u8 *payload;
};

/* Bounds-checked little-endian reader; any failure sets bad and sticks. */
struct rd {
	const u8 *p;
	size_t len, pos;
	int bad;
};

void rd_init(struct rd *r, const u8 *p, size_t len);
u8 rd_u8(struct rd *r);
u16 rd_u16(struct rd *r);
u32 rd_u32(struct rd *r);
u64 rd_u64(struct rd *r);
struct bytes rd_blob(struct rd *r, u32 max);

/* >0: a whole frame of that many bytes; 0: need more; <0: enum scan_err. */
enum scan_err { SCAN_BAD_MAGIC = -1, SCAN_TOO_BIG = -2 };
long frame_scan(const u8 *buf, size_t len, struct frame *f);

/* Each returns 0 or a static message saying what is wrong. */
const char *decode_program(const u8 *p, size_t len, struct prog *out);
const char *decode_config(const u8 *p, size_t len, struct config *out);
const char *decode_exec(const u8 *p, size_t len, struct exec_req *out, char *strbuf,
			size_t strbuf_len);

u64 arena_cost(u32 nbytes, int crossing);
int printable(struct bytes s);
int raw_family(struct bytes s);
void copy_str(char *dst, struct bytes s);

#endif
