// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side fuzz harness for the agent's decoders (built with ASan and UBSan).
 *
 * Reads records from stdin: u8 what | u32 len | len bytes, where what is
 * 0 program, 1 config, 2 exec, 3 frame scan. For each it writes one line:
 * "ok" or "no <reason>" (frame scan: the scan result). The test in
 * tests/unit/guest compares program verdicts with rig.prog.wire.decode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static struct prog prog;
static struct config cfg;
static char strbuf[MAX_ARGC * (MAX_PATH + 1)];

static int read_exact(void *p, size_t n)
{
	return fread(p, 1, n, stdin) == n ? 0 : -1;
}

static const char *one(u8 what, const u8 *p, size_t len, long *scan)
{
	struct exec_req req;
	struct frame f;

	switch (what) {
	case 0:
		return decode_program(p, len, &prog);
	case 1:
		return decode_config(p, len, &cfg);
	case 2:
		return decode_exec(p, len, &req, strbuf, sizeof(strbuf));
	}
	*scan = frame_scan(p, len, &f);
	if (*scan > 0 && (size_t)*scan > len)
		abort();
	return NULL;
}

int main(void)
{
	u8 what, lenb[4];
	u32 len;
	u8 *buf;

	while (read_exact(&what, 1) == 0 && read_exact(lenb, 4) == 0) {
		const char *err;
		long scan = 0;

		len = (u32)lenb[0] | (u32)lenb[1] << 8 | (u32)lenb[2] << 16 | (u32)lenb[3] << 24;
		/* An exact-size heap copy, so ASan sees any read past the end. */
		buf = malloc(len ? len : 1);
		if (!buf || read_exact(buf, len))
			return 1;
		err = one(what, buf, len, &scan);
		free(buf);
		if (what == 3)
			printf("scan %ld\n", scan);
		else if (err)
			printf("no %s\n", err);
		else
			printf("ok\n");
		fflush(stdout);
	}
	return 0;
}
