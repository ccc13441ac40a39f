/*
 * server.c - see server.h.
 *
 * Reload is all or nothing: the new file is parsed and validated and new
 * IMAP clients are created (which reads the password file, or the
 * descriptor of it kept from start-up when it is root's only) before
 * anything changes; any failure is logged and the running configuration
 * stays.  The socket and the user cannot change without a restart (the
 * daemon no longer has the privileges to re-bind or switch users).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "conn.h"
#include "listen.h"
#include "decision.h"
#include "log.h"
#include "lookup.h"
#include "reload.h"
#include "server.h"
#include "stats_http.h"

#define PROG "quotachk-policyd"
#define ACCEPT_BATCH 64
#define EMFILE_PAUSE_MS 100
#define WORKER_STOP_WAIT_MS 1000

static int sigfd = -1;
static struct loop_watch sig_watch, results_watch;
static int server_argc;
static char **server_argv;
static uint64_t listener_resume_ms;

int
policyd_settings(const qc_config_t *config, struct settings *s)
{
	memset(s, 0, sizeof(*s));
	if (qc_config_get_number(config, "imap_timeout", &s->imap_timeout_ms) ||
	    qc_config_get_number(config, "client_idle_timeout",
				 &s->idle_timeout_ms) ||
	    qc_config_get_number(config, "cache_ttl", &s->cache_ttl_ms) ||
	    qc_config_get_number(config, "max_clients", &s->max_clients) ||
	    qc_config_get_number(config, "imap_connections",
				 &s->imap_connections))
		return -1;
	return 0;
}

const char *
server_log_mode(const qc_config_t *config, int spawn_mode)
{
	const char *mode = qc_config_get(config, "log");
	struct stat out, err;

	if (spawn_mode && strcmp(mode, "stderr") == 0 &&
	    fstat(1, &out) == 0 && fstat(2, &err) == 0 &&
	    out.st_dev == err.st_dev && out.st_ino == err.st_ino &&
	    S_ISSOCK(err.st_mode))
		return "syslog"; /* a log line would corrupt the protocol */
	return mode;
}

/* ---- the listening socket ---- */

static void
pause_listener(struct policyd *d)
{
	d->listener_paused = 1;
	loop_set(d->loop, &d->listener.watch, 0);
}

/*
 * Beyond max_clients a newcomer is accepted and closed at once rather
 * than left in the kernel's queue: Postfix then sees the failure within
 * a second and uses its default_action, instead of waiting out its whole
 * policy timeout.  The warning is limited to one a second, with a count,
 * so a flood cannot flood the log too.
 */
static void
refuse_client(struct policyd *d, int fd, const char *peer)
{
	static uint64_t last_warning_ms, refused;
	uint64_t now = loop_now_ms();

	close(fd);
	refused++;
	if (last_warning_ms != 0 && now - last_warning_ms < 1000)
		return;
	msg_warn("%u clients connected, max_clients = %" PRIu64 "; closed "
		 "the connection from %s (%" PRIu64 " refused in the last "
		 "second; raise max_clients?)", d->nconns, d->set.max_clients,
		 peer, refused);
	last_warning_ms = now;
	refused = 0;
}

static void
on_accept(void *context, unsigned int events)
{
	struct policyd *d = context;
	char peer[80];

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd;

		fd = listen_accept(d->listener.fd, peer, sizeof(peer));
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				msg_warn("accept on %s: %m; raise the open file "
					 "limit (ulimit -n) or lower max_clients",
					 d->listener.name);
				pause_listener(d);
				listener_resume_ms = loop_now_ms() +
						     EMFILE_PAUSE_MS;
			}
			return; /* EAGAIN, ECONNABORTED, ... */
		}
		if (d->nconns >= d->set.max_clients) {
			refuse_client(d, fd, peer);
			continue;
		}
		if (conn_create(d, fd, fd, peer) == NULL)
			close(fd);
	}
}

static void
close_listener(struct policyd *d)
{
	if (d->listener.fd < 0)
		return;
	loop_del(d->loop, &d->listener.watch);
	close(d->listener.fd);
	d->listener.fd = -1;
}

/* ---- signals ---- */

static void
reload(struct policyd *d)
{
	static const char *const fixed[] = {"listen", "listen_mode",
					    "listen_group", "user",
					    "stats_listen"};
	qc_config_t *config = NULL, *old;
	struct settings set;
	char err[700];

	if (reload_config(server_argc, server_argv, &config, err,
			  sizeof(err)) < 0 || policyd_settings(config, &set) < 0) {
		msg_error("reload: %s; keeping the running configuration",
			  config != NULL ? "bad numbers" : err);
		qc_config_free(config);
		return;
	}
	/* The file may be root's only: the descriptor kept from start-up
	 * stands in for it while it is the same file. */
	qc_config_set_password_fd(config, d->password_fd);
	if (qc_engine_reconfigure(d->engine, config) != QC_OK) {
		msg_error("reload: %s; keeping the running configuration",
			  qc_engine_errmsg(d->engine));
		qc_config_free(config);
		return;
	}
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(qc_config_get(config, fixed[i]),
			   qc_config_get(d->config, fixed[i])) != 0)
			msg_warn("reload: %s changed; it takes a restart of "
				 PROG " to apply", fixed[i]);
	/* The engine uses the new one now: the old one can go. */
	old = d->config;
	d->config = config;
	d->set = set;
	qc_config_free(old);
	log_open(PROG, server_log_mode(d->config, d->spawn_mode));
	msg_info("reload: configuration reloaded (imap_url=%s "
		 "imap_connections=%" PRIu64 " cache_ttl=%" PRIu64 "ms)",
		 qc_config_get(d->config, "imap_url"), set.imap_connections,
		 set.cache_ttl_ms);
}

static void
stop(struct policyd *d, const char *why)
{
	if (d->stopping) {
		msg_warn("%s again: exiting now, %u clients dropped", why,
			 d->nconns);
		log_flush();
		_exit(1);
	}
	msg_info("%s: stopping; answering the requests in hand (%u clients, "
		 "%" PRIu64 " lookups)", why, d->nconns,
		 qc_engine_counter(d->engine, QC_COUNTER_PENDING));
	d->stopping = 1;
	close_listener(d);
	conn_shutdown_all(d);
}

static void
on_signal(void *context, unsigned int events)
{
	struct policyd *d = context;
	struct signalfd_siginfo si;

	(void)events;
	while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(d);
			break;
		case SIGTERM:
			stop(d, "SIGTERM");
			break;
		case SIGINT:
			stop(d, "SIGINT");
			break;
		case SIGUSR1:
			stats_from_engine(&d->stats, d->engine);
			stats_log(&d->stats, d->nconns, (unsigned long)
				  qc_engine_counter(d->engine,
						    QC_COUNTER_CACHE_ENTRIES),
				  loop_now_ms());
			decision_log_backends(d->engine);
			break;
		}
	}
}

static void
on_results(void *context, unsigned int events)
{
	struct policyd *d = context;

	(void)events;
	qc_engine_process(d->engine);
}

/* ---- life cycle ---- */

int
server_setup(struct policyd *d, char *err, size_t err_size)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	d->listener.fd = -1;
	d->loop = loop_create();
	if (sigfd < 0 || d->loop == NULL) {
		snprintf(err, err_size, "cannot set up: %s", strerror(errno));
		return -1;
	}
	d->stats.started_ms = loop_now_ms();
	return 0;
}

int
server_start(struct policyd *d, int listen_fd, const char *listen_name,
	     char *err, size_t err_size)
{
	if (loop_add(d->loop, &sig_watch, sigfd, LOOP_READ, on_signal, d) < 0 ||
	    loop_add(d->loop, &results_watch, qc_engine_fd(d->engine), LOOP_READ,
		     on_results, d) < 0) {
		snprintf(err, err_size, "epoll: %s", strerror(errno));
		return -1;
	}
	if (listen_fd >= 0) {
		d->listener.fd = listen_fd;
		snprintf(d->listener.name, sizeof(d->listener.name), "%s",
			 listen_name);
		if (loop_add(d->loop, &d->listener.watch, listen_fd, LOOP_READ,
			     on_accept, d) < 0) {
			snprintf(err, err_size, "epoll: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	/* spawn(8): one client on stdin/stdout. */
	d->spawn_mode = 1;
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
	if (conn_create(d, 0, 1, "stdin") == NULL) {
		snprintf(err, err_size, "cannot serve stdin/stdout: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

int
server_run(struct policyd *d, int argc, char **argv)
{
	server_argc = argc;
	server_argv = argv;
	while (!(d->stopping && d->nconns == 0)) {
		int timeout = d->stopping || listener_resume_ms != 0 ? 50 :
			      1000;
		uint64_t now;

		if (loop_run_once(d->loop, timeout) < 0) {
			msg_error("epoll_wait: %m");
			return -1;
		}
		now = loop_now_ms();
		conn_tick(d, now);
		if (listener_resume_ms != 0 && now >= listener_resume_ms) {
			listener_resume_ms = 0;
			if (d->listener_paused && !d->stopping &&
			    d->nconns < d->set.max_clients) {
				d->listener_paused = 0;
				loop_set(d->loop, &d->listener.watch,
					 LOOP_READ);
			}
		}
		conn_after_pass(d);
		log_flush();
	}
	return 0;
}

void
server_teardown(struct policyd *d)
{
	unsigned int stuck;

	close_listener(d);
	/* Its scrapes read the engine's counters. */
	stats_http_stop(d->stats_http);
	d->stats_http = NULL;
	stuck = qc_engine_free(d->engine, WORKER_STOP_WAIT_MS);
	d->engine = NULL;
	if (stuck > 0)
		msg_warn("%u IMAP lookups still hanging at exit", stuck);
	loop_destroy(&d->loop);
	if (sigfd >= 0)
		close(sigfd);
	qc_config_free(d->config);
	d->config = NULL;
	if (stuck == 0)
		qc_library_cleanup();
	log_flush();
}
