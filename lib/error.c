/*
 * error.c - error codes to text, and the bounded message formatting every
 * module uses for the detail it keeps.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One table for the library's own codes, in the order of enum jp_error. */
static const struct {
	int code;
	const char *text;
} jp_errors[] = {
	{ JP_ETASK, "a task failed" },
	{ JP_EWORKER, "a worker died while running a task" },
	{ JP_ETIMEOUT, "a task ran past its timeout" },
	{ JP_EINTR, "the call was interrupted (SIGINT)" },
	{ JP_EFRAME, "malformed frame on a pool pipe" },
	{ JP_ENOTASK, "no task is registered under that name" },
	{ JP_EOPTION, "invalid option value" },
	{ JP_ECANCELED, "not run: the call failed first" },
	{ JP_ENOTSUP, "not supported by this build" },
};

const char *jp_strerror(int err)
{
	if (err == 0)
		return "success";
	for (size_t i = 0; i < sizeof jp_errors / sizeof jp_errors[0]; i++)
		if (jp_errors[i].code == err)
			return jp_errors[i].text;
	if (err < 0 && err > -4096) {
#ifdef HAVE_STRERRORDESC_NP
		const char *s = strerrordesc_np(-err);
		if (s)
			return s;
#else
		return strerror(-err);
#endif
	}
	return "unknown error";
}

void jp__vmsgf(char *dst, size_t cap, const char *fmt, va_list ap)
{
	if (!cap)
		return;
	int n = vsnprintf(dst, cap, fmt, ap);
	if (n < 0)
		dst[0] = '\0';
}

void jp__msgf(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	jp__vmsgf(dst, cap, fmt, ap);
	va_end(ap);
}

double jp__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
