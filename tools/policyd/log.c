/*
 * log.c - see log.h.  syslog(3) is thread-safe and stdio locks its
 * streams, so workers may log too, though by design they leave that to
 * the event loop.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int use_syslog;
static const char *log_ident = "quotachk-policyd";

void
log_open(const char *ident, const char *mode)
{
	static char stderr_buf[16384];
	static int buffered;

	log_ident = ident;
	if (mode != NULL && strcmp(mode, "syslog") == 0) {
		if (!use_syslog)
			openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		use_syslog = 1;
		return;
	}
	if (use_syslog)
		closelog();
	use_syslog = 0;
	if (!buffered) {
		setvbuf(stderr, stderr_buf, _IOFBF, sizeof(stderr_buf));
		buffered = 1;
	}
}

void
log_flush(void)
{
	if (!use_syslog)
		fflush(stderr);
}

static void
vlog(int priority, const char *level, const char *fmt, va_list ap)
{
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (use_syslog)
		syslog(priority, "%s%s", level, line);
	else
		fprintf(stderr, "%s[%ld]: %s%s\n", log_ident, (long)getpid(),
			level, line);
}

#define LOG_FN(name, priority, level) \
void \
name(const char *fmt, ...) \
{ \
	va_list ap; \
	va_start(ap, fmt); \
	vlog(priority, level, fmt, ap); \
	va_end(ap); \
}

LOG_FN(msg_info, LOG_INFO, "")
LOG_FN(msg_warn, LOG_WARNING, "warning: ")
LOG_FN(msg_error, LOG_ERR, "error: ")

void
msg_fatal(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
	log_flush();
	exit(status);
}

char *
log_sanitize(const char *in, char *out, size_t out_size, int allow_space)
{
	size_t n = 0;

	if (out_size == 0)
		return out;
	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (n + 1 >= out_size) {
			if (out_size > 4)
				memcpy(out + out_size - 4, "...", 3);
			n = out_size - 1;
			break;
		}
		out[n++] = (c > 0x20 || (c == 0x20 && allow_space)) &&
			   c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	out[n] = '\0';
	return out;
}
