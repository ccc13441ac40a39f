/*
 * main.c - quotachk-milter: quota checks for Sendmail and Postfix over
 * the milter protocol, on libquotachk's check engine.
 *
 * Start-up as the policy daemon does it: configuration, the socket (as
 * root: it may be a privileged path), the engine's IMAP clients (the
 * password file is read as root), then root is dropped and the threads
 * start.  libmilter runs in a thread of its own; this main thread keeps
 * SIGHUP, SIGTERM, SIGINT and SIGUSR1 unblocked, so Linux delivers them
 * here (the thread group leader goes first) and not to libmilter's signal
 * thread, which would stop the milter on SIGHUP: here SIGHUP reloads.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "decision.h"
#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "options.h"
#include "privs.h"
#include "reload.h"
#include "stats_http.h"

#define PROG "quotachk-milter"
#define ENGINE_STOP_WAIT_MS 1000

static qc_engine_t *engine;
static qc_config_t *config;
static pthread_rwlock_t config_lock = PTHREAD_RWLOCK_INITIALIZER;
static int signal_pipe[2] = {-1, -1};
static int saved_argc;
static char **saved_argv;

qc_engine_t *
milter_engine(void)
{
	return engine;
}

void
milter_action(enum action_kind kind, char *out, size_t size)
{
	pthread_rwlock_rdlock(&config_lock);
	snprintf(out, size, "%s", reply_action_text(config, kind));
	pthread_rwlock_unlock(&config_lock);
}

void
milter_log_decision(const char *recipient, const qc_check_t *check, int error,
		    uint64_t size, enum action_kind kind, const char *action)
{
	struct decision line = {
		.recipient = recipient, .check = check, .error = error,
		.verdict = check != NULL ? qc_check_verdict(check) :
			   QC_VERDICT_FITS,
		.errmsg = check != NULL ? qc_check_errmsg(check) : NULL,
		.size = size, .extra = "", .action = action,
		.us = check != NULL ? qc_check_elapsed_us(check) : 0,
	};

	decision_log(&line);
	metrics_decision(error, line.verdict, kind,
			 check != NULL ? qc_check_source(check) :
			 QC_SOURCE_NONE, line.us);
}

/* A scrape, from the stats_listen thread. */
static int
render_metrics(void *context, struct metrics_buf *out)
{
	struct metrics_snapshot snap;

	(void)context;
	metrics_snapshot(engine, &snap);
	return metrics_render(&snap, out);
}

static void
on_event(enum qc_event_level level, const char *text, void *context)
{
	char clean[600];

	(void)context;
	log_sanitize(text, clean, sizeof(clean), 1);
	if (level == QC_EVENT_WARNING)
		msg_warn("%s", clean);
	else
		msg_info("%s", clean);
}

/* ---- signals: a self-pipe read by the main loop ---- */

static void
on_signal(int signo)
{
	unsigned char b = (unsigned char)signo;
	int saved = errno;

	if (write(signal_pipe[1], &b, 1) < 0) {
		/* full: a signal of each kind is pending already */
	}
	errno = saved;
}

static int
catch_signals(sigset_t *set_r)
{
	static const int signals[] = {SIGHUP, SIGTERM, SIGINT, SIGUSR1};
	struct sigaction sa;

	sigemptyset(set_r);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaddset(set_r, signals[i]);

	if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (sigaction(signals[i], &sa, NULL) < 0)
			return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void
reload(int password_fd)
{
	qc_config_t *fresh = NULL, *old;
	char err[700];

	if (reload_config(saved_argc, saved_argv, &fresh, err,
			  sizeof(err)) < 0) {
		msg_error("reload: %s; keeping the running configuration", err);
		return;
	}
	qc_config_set_password_fd(fresh, password_fd);
	if (qc_engine_reconfigure(engine, fresh) != QC_OK) {
		msg_error("reload: %s; keeping the running configuration",
			  qc_engine_errmsg(engine));
		qc_config_free(fresh);
		return;
	}
	if (strcmp(qc_config_get(fresh, "milter_socket"),
		   qc_config_get(config, "milter_socket")) != 0 ||
	    strcmp(qc_config_get(fresh, "user"),
		   qc_config_get(config, "user")) != 0)
		msg_warn("reload: milter_socket or user changed; it takes a "
			 "restart of " PROG " to apply");
	if (strcmp(qc_config_get(fresh, "stats_listen"),
		   qc_config_get(config, "stats_listen")) != 0)
		msg_warn("reload: stats_listen changed; it takes a restart of "
			 PROG " to apply");
	pthread_rwlock_wrlock(&config_lock);
	old = config;
	config = fresh;
	pthread_rwlock_unlock(&config_lock);
	qc_config_free(old);
	msg_info("reload: configuration reloaded (imap_url=%s)",
		 qc_config_get(config, "imap_url"));
}

static void
log_stats(void)
{
	msg_info("stats: checks=%" PRIu64 " cache_hits=%" PRIu64
		 " coalesced=%" PRIu64 " lookups=%" PRIu64 " imap_errors=%"
		 PRIu64 " timeouts=%" PRIu64 " backoff_answers=%" PRIu64
		 " counted=%" PRIu64 " cache_entries=%" PRIu64,
		 qc_engine_counter(engine, QC_COUNTER_CHECKS),
		 qc_engine_counter(engine, QC_COUNTER_CACHE_HITS),
		 qc_engine_counter(engine, QC_COUNTER_COALESCED),
		 qc_engine_counter(engine, QC_COUNTER_LOOKUPS),
		 qc_engine_counter(engine, QC_COUNTER_IMAP_ERRORS),
		 qc_engine_counter(engine, QC_COUNTER_TIMEOUTS),
		 qc_engine_counter(engine, QC_COUNTER_BACKOFF_ANSWERS),
		 qc_engine_counter(engine, QC_COUNTER_COUNTED),
		 qc_engine_counter(engine, QC_COUNTER_CACHE_ENTRIES));
	decision_log_backends(engine);
}

/* ---- the socket ---- */

static int
socket_path(const char *spec, char *path, size_t size)
{
	const char *p = NULL;

	if (strncmp(spec, "unix:", 5) == 0)
		p = spec + 5;
	else if (strncmp(spec, "local:", 6) == 0)
		p = spec + 6;
	if (p == NULL)
		return 0;
	snprintf(path, size, "%s", p);
	return 1;
}

static int
open_socket(char *err, size_t err_size)
{
	const char *spec = qc_config_get(config, "milter_socket");
	const char *group = qc_config_get(config, "listen_group");
	char path[512];
	uint64_t mode = 0660;

	if (spec[0] == '\0') {
		snprintf(err, err_size, "milter_socket is not set; set it to "
			 "inet:PORT@127.0.0.1 or unix:PATH");
		return -1;
	}
	if (smfi_setconn((char *)spec) != MI_SUCCESS ||
	    smfi_register(milter_desc) != MI_SUCCESS) {
		snprintf(err, err_size, "milter_socket = %s: libmilter "
			 "refused it (inet:PORT@HOST or unix:PATH)", spec);
		return -1;
	}
	if (smfi_opensocket(1) != MI_SUCCESS) {
		snprintf(err, err_size, "milter_socket = %s: cannot open it "
			 "(in use? a directory missing?)", spec);
		return -1;
	}
	if (!socket_path(spec, path, sizeof(path)))
		return 0;
	qc_config_get_number(config, "listen_mode", &mode);
	if (chmod(path, (mode_t)mode) < 0) {
		snprintf(err, err_size, "chmod %s: %s", path, strerror(errno));
		return -1;
	}
	if (group[0] != '\0') {
		struct group *gr = getgrnam(group);

		if (gr == NULL || chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			snprintf(err, err_size, "listen_group = %s: %s", group,
				 gr == NULL ? "no such group" : strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* ---- the milter thread and the main loop ---- */

static void *
milter_thread(void *arg)
{
	int *status = arg;

	*status = smfi_main();
	/* Wake the main loop: the milter is done. */
	on_signal(SIGTERM);
	return NULL;
}

static void
main_loop(int password_fd)
{
	struct pollfd fds[2] = {
		{.fd = signal_pipe[0], .events = POLLIN},
		{.fd = qc_engine_fd(engine), .events = POLLIN},
	};

	for (;;) {
		unsigned char b;

		log_flush();
		if (poll(fds, 2, 200) < 0 && errno != EINTR)
			break;
		if (fds[1].revents & POLLIN)
			qc_engine_process(engine);
		while (read(signal_pipe[0], &b, 1) == 1) {
			if (b == SIGHUP) {
				reload(password_fd);
			} else if (b == SIGUSR1) {
				log_stats();
			} else {
				msg_info("%s: stopping; finishing the "
					 "connections in hand",
					 b == SIGINT ? "SIGINT" : "SIGTERM");
				smfi_stop();
				return;
			}
		}
	}
}

int
main(int argc, char **argv)
{
	struct tool_args args;
	struct stats_http *stats_http = NULL;
	char err[700];
	pthread_t tid;
	sigset_t handled, old_mask;
	int ret, status = MI_SUCCESS, password_fd, stats_fd;
	unsigned int stuck;

	ret = tool_parse_args(PROG, "[-c FILE] [--key=value ...]",
			      "Sendmail/Postfix milter: refuses RCPT for a "
			      "full IMAP mailbox (libquotachk).", argc, argv,
			      NULL, 0, 0, &args);
	if (ret != 0)
		return ret < 0 ? 0 : ret;
	if (args.npositional > 0) {
		fprintf(stderr, PROG ": takes no arguments; try --help\n");
		tool_args_free(&args);
		return EXIT_USAGE;
	}
	config = args.config;
	args.config = NULL;
	tool_args_free(&args);
	saved_argc = argc;
	saved_argv = argv;
	log_open(PROG, qc_config_get(config, "log"));
	metrics_init(PROG);
	if (qc_library_init() != QC_OK)
		msg_fatal(1, "cannot initialise libcurl");
	if (catch_signals(&handled) < 0)
		msg_fatal(1, "cannot set up signals: %m");
	if (open_socket(err, sizeof(err)) < 0)
		msg_fatal(EXIT_CONFIG, "%s", err);
	stats_fd = stats_http_open(config, err, sizeof(err));
	if (stats_fd == -2)
		msg_fatal(1, "%s", err);
	password_fd = privs_keep_password_fd(config);
	if (qc_engine_new(config, &engine) != QC_OK)
		msg_fatal(EXIT_CONFIG, "%s", qc_engine_errmsg(engine));
	if (privs_drop(qc_config_get(config, "user"), err, sizeof(err)) < 0)
		msg_fatal(EXIT_CONFIG, "%s", err);
	qc_engine_set_event_fn(engine, on_event, NULL);
	/* Threads started now do not take our signals; this one does. */
	pthread_sigmask(SIG_BLOCK, &handled, &old_mask);
	if (qc_engine_start(engine) != QC_OK)
		msg_fatal(1, "%s", qc_engine_errmsg(engine));
	if (pthread_create(&tid, NULL, milter_thread, &status) != 0)
		msg_fatal(1, "cannot start the milter thread");
	if (stats_fd >= 0 && (stats_http = stats_http_start(stats_fd,
	    render_metrics, NULL, err, sizeof(err))) == NULL)
		msg_fatal(1, "%s", err);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	msg_info("starting: milter_socket=%s%s%s imap_url=%s",
		 qc_config_get(config, "milter_socket"),
		 stats_fd >= 0 ? " stats_listen=" : "",
		 stats_fd >= 0 ? qc_config_get(config, "stats_listen") : "",
		 qc_config_get(config, "imap_url"));
	main_loop(password_fd);
	pthread_join(tid, NULL);
	/* Its scrapes read the engine's counters. */
	stats_http_stop(stats_http);
	stuck = qc_engine_free(engine, ENGINE_STOP_WAIT_MS);
	if (stuck > 0)
		msg_warn("%u IMAP lookups still hanging at exit", stuck);
	else
		qc_library_cleanup();
	msg_info("stopped");
	log_flush();
	qc_config_free(config);
	if (password_fd >= 0)
		close(password_fd);
	return status == MI_SUCCESS ? 0 : 1;
}
