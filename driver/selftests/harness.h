/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small test harness in the style of the kernel's kselftest_harness.h:
 * TEST(name) { ... } with ASSERT_* (stop the test) and EXPECT_* (go on),
 * every test forked with a time limit, TAP output, exit status 0 when all
 * tests pass, 1 when one fails, 4 (KSFT_SKIP) when the harness skips.
 */
#ifndef BOUNDARY_HARNESS_H
#define BOUNDARY_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

struct harness_test {
	const char *name;
	void (*fn)(struct harness_test *t);
	int failed;
	struct harness_test *next;
};

void harness_register(struct harness_test *t);
int harness_run(int argc, char **argv, int timeout_s);
void harness_fail(struct harness_test *t, const char *file, int line,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define TEST(tname)							\
	static void test_##tname(struct harness_test *_t);		\
	static struct harness_test _test_##tname = {			\
		.name = #tname, .fn = test_##tname,			\
	};								\
	__attribute__((constructor)) static void _reg_##tname(void)	\
	{								\
		harness_register(&_test_##tname);			\
	}								\
	static void test_##tname(struct harness_test *_t)

#define _CHECK(cond, stop, fmt, ...) do {				\
	if (!(cond)) {							\
		harness_fail(_t, __FILE__, __LINE__, fmt, ##__VA_ARGS__); \
		if (stop)						\
			exit(KSFT_FAIL);				\
	}								\
} while (0)

#define _CMP(op, exp, seen, stop) do {					\
	long long __e = (long long)(exp), __s = (long long)(seen);	\
	_CHECK(__e op __s, stop, "%s %s %s: %lld vs %lld (errno %d %s)", \
	       #exp, #op, #seen, __e, __s, errno, strerror(errno));	\
} while (0)

#define ASSERT_EQ(exp, seen)	_CMP(==, exp, seen, 1)
#define ASSERT_NE(exp, seen)	_CMP(!=, exp, seen, 1)
#define ASSERT_LE(exp, seen)	_CMP(<=, exp, seen, 1)
#define ASSERT_GE(exp, seen)	_CMP(>=, exp, seen, 1)
#define ASSERT_TRUE(cond)	_CHECK(cond, 1, "%s", #cond)
#define EXPECT_EQ(exp, seen)	_CMP(==, exp, seen, 0)
#define EXPECT_NE(exp, seen)	_CMP(!=, exp, seen, 0)
#define EXPECT_LE(exp, seen)	_CMP(<=, exp, seen, 0)
#define EXPECT_GE(exp, seen)	_CMP(>=, exp, seen, 0)
#define EXPECT_TRUE(cond)	_CHECK(cond, 0, "%s", #cond)

/* A raw syscall that must fail with errno err. */
#define EXPECT_ERRNO(err, call) do {					\
	long __r;							\
	errno = 0;							\
	__r = (long)(call);						\
	_CHECK(__r == -1 && errno == (err), 0,				\
	       "%s: want -1/%s, got %ld/%s", #call, strerror(err), __r,	\
	       strerror(errno));					\
} while (0)

#define ASSERT_OK(call) do {						\
	long __r;							\
	errno = 0;							\
	__r = (long)(call);						\
	_CHECK(__r >= 0, 1, "%s: %ld (%s)", #call, __r, strerror(errno)); \
} while (0)

#define EXPECT_STREQ(exp, seen) do {					\
	const char *__e = (exp), *__s = (seen);				\
	_CHECK(!strcmp(__e, __s), 0, "'%s' vs '%s'", __e, __s);	\
} while (0)

#define EXPECT_CONTAINS(hay, needle) do {				\
	const char *__h = (hay), *__n = (needle);			\
	_CHECK(strstr(__h, __n), 0, "'%s' not in output", __n);	\
} while (0)

#endif /* BOUNDARY_HARNESS_H */
