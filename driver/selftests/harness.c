// SPDX-License-Identifier: GPL-2.0
/* Runner of harness.h: fork per test, TAP version 13 on stdout. */
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness_test *harness_head, **harness_tail = &harness_head;

void harness_register(struct harness_test *t)
{
	*harness_tail = t;
	harness_tail = &t->next;
}

void harness_fail(struct harness_test *t, const char *file, int line,
		  const char *fmt, ...)
{
	va_list ap;

	t->failed = 1;
	printf("# %s: %s:%d: ", t->name, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int harness_one(struct harness_test *t, int timeout_s)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return KSFT_FAIL;
	if (!pid) {
		alarm(timeout_s);
		t->fn(t);
		fflush(stdout);
		_exit(t->failed ? KSFT_FAIL : KSFT_PASS);
	}
	if (waitpid(pid, &status, 0) < 0)
		return KSFT_FAIL;
	if (WIFSIGNALED(status)) {
		printf("# %s: killed by signal %d%s\n", t->name,
		       WTERMSIG(status),
		       WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
		return KSFT_FAIL;
	}
	return WEXITSTATUS(status);
}

static int harness_selected(struct harness_test *t, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return 1;
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], t->name))
			return 1;
	return 0;
}

int harness_run(int argc, char **argv, int timeout_s)
{
	struct harness_test *t;
	int n = 0, i = 0, failed = 0, ret;

	for (t = harness_head; t; t = t->next)
		n += harness_selected(t, argc, argv);
	printf("TAP version 13\n1..%d\n", n);
	for (t = harness_head; t; t = t->next) {
		if (!harness_selected(t, argc, argv))
			continue;
		ret = harness_one(t, timeout_s);
		i++;
		if (ret == KSFT_SKIP) {
			printf("ok %d %s # SKIP\n", i, t->name);
			continue;
		}
		printf("%sok %d %s\n", ret ? "not " : "", i, t->name);
		failed += ret != KSFT_PASS;
	}
	printf("# totals: pass:%d fail:%d\n", n - failed, failed);
	fflush(stdout);
	return failed ? KSFT_FAIL : KSFT_PASS;
}
