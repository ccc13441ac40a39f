/*
 * log.h - the daemon's diagnostics: syslog (mail facility) or stderr,
 * Postfix-like levels.  msg_fatal() is for configuration and environment
 * problems and exits; bugs abort.  The stderr stream is block-buffered
 * and flushed once per event-loop pass (log_flush), so a decision line
 * per request costs no system call of its own.
 */
#ifndef QC_POLICYD_LOG_H
#define QC_POLICYD_LOG_H

#include <stddef.h>

#define LOG_PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))

/* "syslog" or "stderr" (the values of the log key). */
void log_open(const char *ident, const char *mode);
void log_flush(void);

void msg_info(const char *fmt, ...) LOG_PRINTFLIKE(1, 2);
void msg_warn(const char *fmt, ...) LOG_PRINTFLIKE(1, 2);
void msg_error(const char *fmt, ...) LOG_PRINTFLIKE(1, 2);
void msg_fatal(int status, const char *fmt, ...)
	LOG_PRINTFLIKE(2, 3) __attribute__((noreturn));

/*
 * Untrusted text made safe for a key=value log line: printable ASCII
 * other than '"' and '\\' is kept (space only with allow_space, for a
 * value the caller puts in quotes), anything else becomes '?', and the
 * result is cut to fit out (with "..." when cut).  Returns out.
 */
char *log_sanitize(const char *in, char *out, size_t out_size,
		   int allow_space);

#endif
