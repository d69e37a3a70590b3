// SPDX-License-Identifier: GPL-2.0
/*
 * Decoders for the agent's wire formats: pure functions over untrusted bytes.
 *
 * The formats are specified in wire.h (twin of rig/prog/wire.py and
 * rig/guest/protocol.py). A program accepted here passes every check of
 * rig.prog.program.Program.validate(), and the reverse: the host-side fuzz
 * test compares the two decoders on the same bytes.
 */
#include <string.h>

#include "wire.h"

void rd_init(struct rd *r, const u8 *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->bad = 0;
}

static const u8 *rd_take(struct rd *r, size_t n)
{
	const u8 *at;

	if (r->bad || n > r->len - r->pos) {
		r->bad = 1;
		return NULL;
	}
	at = r->p + r->pos;
	r->pos += n;
	return at;
}

static u64 le(const u8 *b, int n)
{
	u64 v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

u8 rd_u8(struct rd *r)
{
	const u8 *b = rd_take(r, 1);

	return b ? b[0] : 0;
}

u16 rd_u16(struct rd *r)
{
	const u8 *b = rd_take(r, 2);

	return b ? (u16)le(b, 2) : 0;
}

u32 rd_u32(struct rd *r)
{
	const u8 *b = rd_take(r, 4);

	return b ? (u32)le(b, 4) : 0;
}

u64 rd_u64(struct rd *r)
{
	const u8 *b = rd_take(r, 8);

	return b ? le(b, 8) : 0;
}

struct bytes rd_blob(struct rd *r, u32 max)
{
	struct bytes s = { NULL, 0 };
	u32 n = rd_u32(r);

	if (r->bad || n > max) {
		r->bad = 1;
		return s;
	}
	s.p = rd_take(r, n);
	s.len = s.p ? n : 0;
	return s;
}

int printable(struct bytes s)
{
	u32 i;

	for (i = 0; i < s.len; i++)
		if (s.p[i] < 0x20 || s.p[i] > 0x7e)
			return 0;
	return 1;
}

/* The protocol of a raw family name ("@route"), or -1 if it names none. */
int raw_family(struct bytes s)
{
	if (s.len == sizeof(RAW_ROUTE) - 1 && !memcmp(s.p, RAW_ROUTE, s.len))
		return 0;	/* NETLINK_ROUTE */
	return -1;
}

long frame_scan(const u8 *buf, size_t len, struct frame *f)
{
	struct rd r;

	if (len < 4)
		return memcmp(buf, "RIGA", len) ? SCAN_BAD_MAGIC : 0;
	rd_init(&r, buf, len);
	if (rd_u32(&r) != FRAME_MAGIC)
		return SCAN_BAD_MAGIC;
	if (len < FRAME_HDR)
		return 0;
	f->type = rd_u16(&r);
	f->flags = rd_u16(&r);
	f->tag = rd_u32(&r);
	f->len = rd_u32(&r);
	if (f->len > MAX_REQUEST)
		return SCAN_TOO_BIG;
	if (len - FRAME_HDR < f->len)
		return 0;
	f->payload = buf + FRAME_HDR;
	return FRAME_HDR + (long)f->len;
}

/* Twin of arena_cost() in rig/prog/program.py. */
u64 arena_cost(u32 nbytes, int crossing)
{
	if (crossing)
		return (((u64)nbytes + PAGE - 1) & ~(u64)(PAGE - 1)) + PAGE;
	return ((u64)nbytes + 15) & ~(u64)15;
}

static int path_ok(struct bytes s)
{
	return s.len >= 1 && s.len <= MAX_PATH && s.p[0] == '/' && printable(s);
}

/* ---------------------------------------------------------------- programs */

struct pdec {
	struct rd r;
	struct prog *prog;
	const char *err;
};

static int fail(struct pdec *d, const char *msg)
{
	if (!d->err)
		d->err = msg;
	return -1;
}

static int take_arena(struct pdec *d, u32 nbytes, int crossing)
{
	d->prog->arena += arena_cost(nbytes, crossing);
	if (d->prog->arena > MAX_ARENA)
		return fail(d, "buffers and reads exceed the arena");
	return 0;
}

static int decode_arg(struct pdec *d, struct rd *r, int depth, u32 *out);

static int decode_buffer(struct pdec *d, struct rd *r, int depth, struct arg *a)
{
	u32 i, base, visible;

	if (depth > MAX_DEPTH)
		return fail(d, "buffers nest too deep");
	if (++d->prog->nbuffers > MAX_BUFFERS)
		return fail(d, "too many buffers");
	a->size = rd_u32(r);
	a->mapped = rd_u32(r);
	a->data = rd_blob(r, MAX_IO);
	a->nptrs = rd_u16(r);
	if (r->bad)
		return fail(d, "truncated buffer");
	if (a->size > MAX_IO)
		return fail(d, "buffer too large");
	a->crossing = a->mapped != ALL_MAPPED;
	if (!a->crossing)
		a->mapped = a->size;
	visible = a->mapped;
	if (visible > a->size || a->data.len > visible)
		return fail(d, "buffer data or mapped bytes exceed its size");
	if (a->nptrs > MAX_PTRS)
		return fail(d, "too many pointers in a buffer");
	if (take_arena(d, visible, a->crossing))
		return -1;
	if (a->nptrs > MAX_RELOCS - d->prog->nptrs)
		return fail(d, "too many pointers");
	base = d->prog->nptrs;
	d->prog->nptrs += a->nptrs;
	a->first_ptr = base;
	for (i = 0; i < a->nptrs; i++) {
		struct ptr *p = &d->prog->ptrs[base + i];

		p->offset = rd_u32(r);
		p->width = rd_u8(r);
		if (r->bad)
			return fail(d, "truncated pointer");
		if (p->width != 8 && p->width != 4)
			return fail(d, "pointer width not 8 or 4");
		if ((u64)p->offset + p->width > visible)
			return fail(d, "pointer outside the mapped bytes");
		if (decode_arg(d, r, depth + 1, &p->target))
			return -1;
		if (d->prog->args[p->target].tag == A_INT)
			return fail(d, "integer where a pointer must be");
	}
	return 0;
}

static int decode_arg(struct pdec *d, struct rd *r, int depth, u32 *out)
{
	struct arg *a;

	if (d->prog->nargs >= MAX_ARGS)
		return fail(d, "too many arguments");
	*out = d->prog->nargs++;
	a = &d->prog->args[*out];
	memset(a, 0, sizeof(*a));
	a->tag = rd_u8(r);
	if (r->bad)
		return fail(d, "truncated argument");
	switch (a->tag) {
	case A_INT:
		a->value = rd_u64(r);
		return r->bad ? fail(d, "truncated integer") : 0;
	case A_NULL:
	case A_UNMAPPED:
	case A_KERNEL:
		return 0;
	case A_BUFFER:
		return decode_buffer(d, r, depth, a);
	}
	return fail(d, "unknown argument tag");
}

/* An fd reference must name an earlier call that yields the right kind. */
static int check_ref(struct pdec *d, u32 index, u32 ref, int want_file, int want_sock)
{
	u8 kind;

	if (ref == NO_FD)
		return 0;
	if (ref >= index)
		return fail(d, "fd reference to a later call");
	kind = d->prog->calls[ref].kind;
	if ((kind == K_OPEN && want_file) || (kind == K_NL_SOCKET && want_sock))
		return 0;
	return fail(d, "fd reference of the wrong kind");
}

/* A mapping reference must name an earlier mmap call. */
static int check_map(struct pdec *d, u32 index, u32 ref)
{
	if (ref == NO_FD)
		return 0;
	if (ref >= index || d->prog->calls[ref].kind != K_MMAP)
		return fail(d, "mapping reference to no earlier mmap");
	return 0;
}

static int decode_body(struct pdec *d, struct rd *b, u32 index, struct call *c)
{
	switch (c->kind) {
	case K_OPEN:
		c->flags = rd_u32(b);
		c->mode = rd_u32(b);
		c->str = rd_blob(b, MAX_PATH);
		return b->bad || !path_ok(c->str) ? fail(d, "bad open") : 0;
	case K_CLOSE:
		c->fd = rd_u32(b);
		return b->bad ? fail(d, "bad close") : check_ref(d, index, c->fd, 1, 1);
	case K_READ:
		c->fd = rd_u32(b);
		c->count = rd_u32(b);
		if (b->bad || c->count > MAX_IO)
			return fail(d, "bad read");
		return check_ref(d, index, c->fd, 1, 0) || take_arena(d, c->count, 0);
	case K_WRITE:
		c->fd = rd_u32(b);
		c->data = rd_blob(b, MAX_IO);
		return b->bad ? fail(d, "bad write") : check_ref(d, index, c->fd, 1, 0);
	case K_IOCTL:
		c->fd = rd_u32(b);
		c->cmd = rd_u32(b);
		if (b->bad || check_ref(d, index, c->fd, 1, 0))
			return fail(d, "bad ioctl");
		return decode_arg(d, b, 0, &c->arg);
	case K_NL_SOCKET:
		c->count = rd_u32(b);
		return b->bad || c->count > MAX_NL_PROTOCOL ? fail(d, "bad nl_socket") : 0;
	case K_NL_SEND:
		c->fd = rd_u32(b);
		c->str = rd_blob(b, MAX_FAMILY);
		c->data = rd_blob(b, MAX_IO);
		if (b->bad || !c->str.len || !printable(c->str) ||
		    (c->str.p[0] == '@' && raw_family(c->str) < 0))
			return fail(d, "bad nl_send");
		return check_ref(d, index, c->fd, 0, 1);
	case K_FILE_WRITE:
		c->str = rd_blob(b, MAX_PATH);
		c->data = rd_blob(b, MAX_IO);
		return b->bad || !path_ok(c->str) ? fail(d, "bad file_write") : 0;
	case K_FILE_READ:
		c->str = rd_blob(b, MAX_PATH);
		c->count = rd_u32(b);
		if (b->bad || !path_ok(c->str) || c->count > MAX_IO)
			return fail(d, "bad file_read");
		return take_arena(d, c->count, 0);
	case K_MMAP:
		c->fd = rd_u32(b);
		c->mode = rd_u32(b);
		c->flags = rd_u32(b);
		c->count = rd_u32(b);
		c->length = rd_u64(b);
		c->offset = rd_u64(b);
		if (b->bad || c->mode & ~MAP_PROTS || c->flags & ~MAP_FLAGS_OK ||
		    c->count & ~(TOUCH_READ | TOUCH_WRITE) || c->length > MAX_MAP)
			return fail(d, "bad mmap");
		return check_ref(d, index, c->fd, 1, 0);
	case K_MUNMAP:
		c->fd = rd_u32(b);
		return b->bad ? fail(d, "bad munmap") : check_map(d, index, c->fd);
	case K_POLL:
		c->fd = rd_u32(b);
		c->cmd = rd_u32(b);
		if (b->bad || c->cmd > POLL_EVENTS)
			return fail(d, "bad poll");
		return check_ref(d, index, c->fd, 1, 1);
	}
	return fail(d, "unknown call kind");
}

static int decode_call(struct pdec *d, u32 index)
{
	struct call *c = &d->prog->calls[index];
	struct bytes body;
	struct rd b;
	u16 zero;

	memset(c, 0, sizeof(*c));
	c->kind = rd_u8(&d->r);
	c->thread = rd_u8(&d->r);
	zero = rd_u16(&d->r);
	body = rd_blob(&d->r, MAX_REQUEST);
	if (d->r.bad)
		return fail(d, "truncated call");
	if (zero)
		return fail(d, "reserved field not zero");
	rd_init(&b, body.p, body.len);
	if (decode_body(d, &b, index, c))
		return fail(d, "bad call");
	if (b.bad || b.pos != b.len)
		return fail(d, "call body has the wrong size");
	return 0;
}

const char *decode_program(const u8 *p, size_t len, struct prog *out)
{
	struct pdec d = { .prog = out };
	u32 i;

	out->abi = out->ncalls = out->nargs = out->nptrs = out->nbuffers = 0;
	out->arena = 0;
	rd_init(&d.r, p, len);
	if (rd_u32(&d.r) != PROG_MAGIC || rd_u16(&d.r) != PROG_VERSION)
		return "bad program magic or version";
	out->ncalls = rd_u16(&d.r);
	out->abi = rd_u32(&d.r);
	if (d.r.bad || out->ncalls > MAX_CALLS)
		return "bad call count";
	if (out->abi != ABI_64 && out->abi != ABI_32)
		return "abi not 64 or 32";
	for (i = 0; i < out->ncalls; i++)
		if (decode_call(&d, i))
			return d.err;
	if (d.r.pos != d.r.len)
		return "bytes after the last call";
	return NULL;
}

/* ---------------------------------------------------------------- config */

/* dst must hold s.len + 1 bytes. */
void copy_str(char *dst, struct bytes s)
{
	memcpy(dst, s.p, s.len);
	dst[s.len] = 0;
}

const char *decode_config(const u8 *p, size_t len, struct config *out)
{
	struct bytes s;
	struct rd r;
	u32 i;

	rd_init(&r, p, len);
	out->call_ms = rd_u32(&r);
	out->max_output = rd_u32(&r);
	out->flags = rd_u32(&r);
	s = rd_blob(&r, MAX_PATH);
	if (r.bad)
		return "truncated config";
	if (!out->call_ms || out->call_ms > MAX_CALL_MS || out->max_output > MAX_OUTPUT)
		return "call limit or output size out of range";
	if (out->flags & ~CFG_FLAGS)
		return "unknown config flags";
	if (s.len && !path_ok(s))
		return "bad coverage path";
	copy_str(out->cov_path, s);
	out->npaths = rd_u16(&r);
	if (r.bad || out->npaths > MAX_ALLOW)
		return "too many allowed paths";
	for (i = 0; i < out->npaths; i++) {
		s = rd_blob(&r, MAX_PATH);
		if (r.bad || !path_ok(s))
			return "bad allowed path";
		copy_str(out->paths[i], s);
	}
	out->nfamilies = rd_u16(&r);
	if (r.bad || out->nfamilies > MAX_FAMILIES)
		return "too many families";
	for (i = 0; i < out->nfamilies; i++) {
		s = rd_blob(&r, MAX_FAMILY);
		if (r.bad || !s.len || !printable(s))
			return "bad family name";
		copy_str(out->families[i], s);
	}
	return r.pos == r.len ? NULL : "bytes after the config";
}

/* ---------------------------------------------------------------- exec */

const char *decode_exec(const u8 *p, size_t len, struct exec_req *out, char *strbuf,
			size_t strbuf_len)
{
	size_t used = 0;
	struct bytes s;
	struct rd r;
	u32 i;

	rd_init(&r, p, len);
	out->timeout_ms = rd_u32(&r);
	out->max_output = rd_u32(&r);
	out->argc = rd_u16(&r);
	if (r.bad || !out->timeout_ms || out->timeout_ms > MAX_EXEC_MS)
		return "bad exec time limit";
	if (out->max_output > MAX_OUTPUT || out->argc > MAX_ARGC)
		return "bad exec output size or argument count";
	for (i = 0; i < out->argc; i++) {
		s = rd_blob(&r, MAX_PATH);
		if (r.bad || !printable(s) || s.len + 1 > strbuf_len - used)
			return "bad exec argument";
		out->argv[i] = strbuf + used;
		copy_str(strbuf + used, s);
		used += s.len + 1;
	}
	out->argv[out->argc] = NULL;
	out->binary = rd_blob(&r, MAX_REQUEST);
	if (r.bad || !out->binary.len)
		return "bad exec binary";
	return r.pos == r.len ? NULL : "bytes after the binary";
}
