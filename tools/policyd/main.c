/*
 * quotachk-policyd - Postfix access policy server: answers each RCPT
 * (or END-OF-MESSAGE) request with the configured action for the
 * recipient's IMAP quota, so a full mailbox is refused while the sender
 * is still connected.  Stays in the foreground.
 *
 * Order of start-up matters: bind and read the password file with the
 * privileges we were started with, then drop them for good, and only
 * then start the IMAP worker threads and serve.
 *
 * Exit: 0 after SIGTERM/SIGINT (or the spawn(8) client leaving),
 * 1 on a run-time failure, 64 usage, 78 configuration.
 */
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "listen.h"
#include "log.h"
#include "policyd.h"
#include "privs.h"
#include "server.h"
#include "lookup.h"
#include "metrics.h"
#include "stats_http.h"

#define PROG "quotachk-policyd"

/*
 * listen_group as a gid (-1: leave the socket's group alone), or -2 with
 * err filled when there is no such group.
 */
static long
socket_group(const qc_config_t *config, char *err, size_t err_size)
{
	const char *name = qc_config_get(config, "listen_group");
	struct group *gr;

	if (name[0] == '\0')
		return -1;
	gr = getgrnam(name);
	if (gr == NULL) {
		snprintf(err, err_size, "listen_group = %s: no such group; set "
			 "it to a group the Postfix smtpd processes are in "
			 "(usually postfix)", name);
		return -2;
	}
	return (long)gr->gr_gid;
}

/* A unix socket only root can use is most likely a configuration slip. */
static void
warn_socket_access(const char *listen, uint64_t mode, long gid)
{
	if (strncmp(listen, "unix:", 5) != 0 || gid >= 0 || (mode & 02) ||
	    getegid() != 0)
		return;
	msg_warn("listen = %s: mode %04llo, group root: Postfix (user "
		 "postfix) cannot connect; set listen_group = postfix, or "
		 "listen_mode = 0666 to let every local user ask quotas",
		 listen, (unsigned long long)mode);
}

/* A scrape, from the stats_listen thread: the engine is thread-safe and
 * outlives that thread. */
static int
render_metrics(void *context, struct metrics_buf *out)
{
	struct policyd *d = context;
	struct metrics_snapshot snap;

	metrics_snapshot(d->engine, &snap);
	return metrics_render(&snap, out);
}

int
main(int argc, char **argv)
{
	struct tool_args args;
	struct policyd d;
	const char *listen;
	char err[700];
	int ret, fd = -1, stats_fd;
	uint64_t mode;

	ret = tool_parse_args(PROG, "[OPTIONS]",
			      "Postfix policy server that refuses mail for "
			      "recipients over their IMAP quota.\nWith listen "
			      "set it serves that socket, without it one "
			      "client on stdin/stdout (spawn(8)).",
			      argc, argv, NULL, 0, 0, &args);
	if (ret != 0)
		return ret < 0 ? 0 : ret;
	if (args.npositional > 0) {
		fprintf(stderr, PROG ": takes no arguments; try --help\n");
		tool_args_free(&args);
		return EXIT_USAGE;
	}
	memset(&d, 0, sizeof(d));
	d.config = args.config;
	args.config = NULL;
	tool_args_free(&args);
	if (policyd_settings(d.config, &d.set) < 0) {
		fprintf(stderr, PROG ": cannot read numeric settings\n");
		return EXIT_CONFIG;
	}
	listen = qc_config_get(d.config, "listen");
	d.spawn_mode = listen[0] == '\0';
	log_open(PROG, server_log_mode(d.config, d.spawn_mode));
	metrics_init(PROG);
	if (qc_library_init() != QC_OK)
		msg_fatal(1, "cannot initialise libcurl");
	if (server_setup(&d, err, sizeof(err)) < 0)
		msg_fatal(1, "%s", err);
	if (listen[0] != '\0') {
		long gid = socket_group(d.config, err, sizeof(err));

		if (gid == -2)
			msg_fatal(EXIT_CONFIG, "%s", err);
		if (qc_config_get_number(d.config, "listen_mode", &mode))
			mode = 0660;
		fd = listen_open("listen", listen, (unsigned int)mode, gid, err,
				 sizeof(err));
		if (fd < 0)
			msg_fatal(1, "%s", err);
		warn_socket_access(listen, mode, gid);
	}
	/* spawn(8) starts a process per client: they cannot all bind it. */
	if (d.spawn_mode && qc_config_get(d.config, "stats_listen")[0]) {
		msg_warn("stats_listen is ignored without listen (spawn mode "
			 "runs one process per Postfix client)");
		stats_fd = -1;
	} else {
		stats_fd = stats_http_open(d.config, err, sizeof(err));
	}
	if (stats_fd == -2)
		msg_fatal(1, "%s", err);
	d.password_fd = privs_keep_password_fd(d.config);
	/* The engine reads the password now, as root; its threads start
	 * once root is dropped. */
	if (qc_engine_new(d.config, &d.engine) != QC_OK)
		msg_fatal(EXIT_CONFIG, "%s", qc_engine_errmsg(d.engine));
	if (privs_drop(qc_config_get(d.config, "user"), err, sizeof(err)) < 0)
		msg_fatal(EXIT_CONFIG, "%s", err);
	lookup_events_to_log(&d);
	if (qc_engine_start(d.engine) != QC_OK)
		msg_fatal(1, "%s", qc_engine_errmsg(d.engine));
	if (server_start(&d, fd, listen, err, sizeof(err)) < 0)
		msg_fatal(1, "%s", err);
	/* Signals are blocked since server_setup(): the thread takes none. */
	if (stats_fd >= 0 && (d.stats_http = stats_http_start(stats_fd,
	    render_metrics, &d, err, sizeof(err))) == NULL)
		msg_fatal(1, "%s", err);
	msg_info("starting: %s%s%s%s imap_url=%s imap_connections=%llu "
		 "cache_ttl=%llums", listen[0] ? "listen=" : "spawn mode",
		 listen, stats_fd >= 0 ? " stats_listen=" : "",
		 stats_fd >= 0 ? qc_config_get(d.config, "stats_listen") : "",
		 qc_config_get(d.config, "imap_url"),
		 (unsigned long long)d.set.imap_connections,
		 (unsigned long long)d.set.cache_ttl_ms);
	log_flush();
	ret = server_run(&d, argc, argv);
	msg_info("stopped after %llu requests",
		 (unsigned long long)d.stats.requests);
	server_teardown(&d);
	if (d.password_fd >= 0)
		close(d.password_fd);
	return ret < 0 ? 1 : 0;
}
