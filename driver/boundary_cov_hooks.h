/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hooks that -fsanitize-coverage=trace-pc,trace-cmp makes the compiler call,
 * defined in boundary_cov.c. Only that file may include this: for the
 * instrumented files these are compiler built-ins with their own types.
 */
#ifndef BOUNDARY_COV_HOOKS_H
#define BOUNDARY_COV_HOOKS_H

#include <linux/types.h>

void __sanitizer_cov_trace_pc(void);
void __sanitizer_cov_trace_cmp1(u8 a, u8 b);
void __sanitizer_cov_trace_cmp2(u16 a, u16 b);
void __sanitizer_cov_trace_cmp4(u32 a, u32 b);
void __sanitizer_cov_trace_cmp8(u64 a, u64 b);
void __sanitizer_cov_trace_const_cmp1(u8 a, u8 b);
void __sanitizer_cov_trace_const_cmp2(u16 a, u16 b);
void __sanitizer_cov_trace_const_cmp4(u32 a, u32 b);
void __sanitizer_cov_trace_const_cmp8(u64 a, u64 b);
void __sanitizer_cov_trace_switch(u64 val, u64 *cases);

#endif /* BOUNDARY_COV_HOOKS_H */
