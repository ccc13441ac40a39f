/*
 * quotachk - one-shot quota check for scripts.
 *
 * Exit status (DESIGN section 5): 0 fits (or no quota, or the domain is
 * not checked), 1 over quota or too large, 2 no such mailbox (or an
 * address that cannot name one), 3 could not tell, 64 usage, 78 config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "json_usage.h"
#include "options.h"

enum { EXIT_FITS = 0, EXIT_OVER = 1, EXIT_NO_MAILBOX = 2, EXIT_UNKNOWN = 3 };

static const struct tool_option options[] = {
	{"json", 0, "print one JSON object instead of a line of text"},
};
enum { OPT_JSON };

static int
exit_status(int error, enum qc_verdict verdict)
{
	if (error == QC_ERR_ADDRESS)
		return EXIT_NO_MAILBOX;
	if (error == QC_ERR_CONFIG || error == QC_ERR_PASSWORD_FILE)
		return EXIT_CONFIG;
	if (error != QC_OK)
		return EXIT_UNKNOWN;
	switch (verdict) {
	case QC_VERDICT_OVER_QUOTA:
	case QC_VERDICT_TOO_LARGE:
		return EXIT_OVER;
	case QC_VERDICT_NO_MAILBOX:
		return EXIT_NO_MAILBOX;
	default:
		return EXIT_FITS;
	}
}

static void
print_json(const char *address, const char *backend, uint64_t size,
	   int error, const char *detail, enum qc_verdict verdict,
	   const struct qc_quota *q, const qc_rule_t *rule,
	   unsigned int flags)
{
	json_object *o = json_object_new_object();
	int answered = error == QC_OK;

	json_object_object_add(o, "address", json_object_new_string(address));
	json_object_object_add(o, "mailbox", answered && q->mailbox[0] ?
			       json_object_new_string(q->mailbox) : NULL);
	/* An address that cannot name a mailbox is "nouser" (exit 2), with
	 * the reason under "error". */
	json_object_object_add(o, "verdict", json_object_new_string(
			       answered ? qc_verdict_name(verdict) :
			       error == QC_ERR_ADDRESS ? "nouser" : "error"));
	json_object_object_add(o, "quota_root", answered && q->root[0] ?
			       json_object_new_string(q->root) : NULL);
	json_object_object_add(o, "storage", answered ?
			       tool_usage_json(&q->storage) : NULL);
	json_object_object_add(o, "messages", answered ?
			       tool_usage_json(&q->messages) : NULL);
	json_object_object_add(o, "size", json_object_new_uint64(size));
	json_object_object_add(o, "error", answered ? NULL :
			       json_object_new_string(detail));
	json_object_object_add(o, "rule", json_object_new_string(
			       qc_quota_rule_name(qc_rule_kind(rule))));
	/* True when the server's KiB rounding left the outcome open and
	 * the verdict is the accepting one. */
	json_object_object_add(o, "rounding_window", json_object_new_boolean(
			       answered && (flags & QC_DECISION_IN_WINDOW)));
	/* The backend that was asked; null without backends, or when no
	 * backend serves the domain (notchecked). */
	json_object_object_add(o, "backend", backend != NULL ?
			       json_object_new_string(backend) : NULL);
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

static void
print_usage(const char *what, const struct qc_usage *u)
{
	if (u->limited)
		printf(" %s=%llu/%llu", what, (unsigned long long)u->used,
		       (unsigned long long)u->limit);
}

static void
print_text(const char *address, const char *backend, uint64_t size,
	   int error, const char *detail, enum qc_verdict verdict,
	   const struct qc_quota *q, unsigned int flags)
{
	if (error != QC_OK) {
		fprintf(stderr, "quotachk: %s: %s\n", address, detail);
		return;
	}
	printf("%s: %s mailbox=%s", address, qc_verdict_name(verdict),
	       q->mailbox[0] ? q->mailbox : "-");
	print_usage("storage_bytes", &q->storage);
	print_usage("messages", &q->messages);
	printf(" size=%llu%s", (unsigned long long)size,
	       flags & QC_DECISION_IN_WINDOW ? " window=yes" : "");
	if (backend != NULL)
		printf(" backend=%s", backend);
	putchar('\n');
}

/*
 * The config of the server to ask: the main one, or with backends the one
 * serving the address (NULL: none does, the address is not checked).
 */
static int
route(const qc_config_t *config, const char *address,
      const qc_config_t **server_r, const char **backend_r)
{
	unsigned int index;
	int ret;

	*server_r = config;
	*backend_r = NULL;
	if (qc_config_backend_count(config) == 0)
		return QC_OK;
	*server_r = NULL;
	ret = qc_config_backend_for(config, address, &index);
	if (ret == QC_OK && index != QC_BACKEND_NONE) {
		*server_r = qc_config_backend(config, index);
		*backend_r = qc_config_backend_name(config, index);
	}
	return ret;
}

static int
parse_size(const char *text, uint64_t *size_r)
{
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	*size_r = strtoull(text, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct tool_args args;
	qc_client_t *client = NULL;
	struct qc_quota quota;
	enum qc_verdict verdict = QC_VERDICT_FITS;
	uint64_t size = 0;
	const qc_config_t *server = NULL;
	const char *address, *detail, *backend = NULL;
	unsigned int flags = 0;
	int ret, status;

	ret = tool_parse_args("quotachk", "[OPTIONS] ADDRESS [SIZE]",
			      "Check whether a message of SIZE bytes fits "
			      "the IMAP quota of ADDRESS.\nExit: 0 fits, 1 "
			      "over quota or too large, 2 no such mailbox, 3 "
			      "could not tell, 64 usage, 78 configuration.",
			      argc, argv, options, 1, 0, &args);
	if (ret != 0)
		return ret < 0 ? 0 : ret;
	if (args.npositional < 1 || args.npositional > 2 ||
	    (args.npositional == 2 && parse_size(args.positional[1],
						 &size) < 0)) {
		fprintf(stderr, "quotachk: usage: quotachk [OPTIONS] ADDRESS "
			"[SIZE]; SIZE is a number of bytes; try --help\n");
		tool_args_free(&args);
		return EXIT_USAGE;
	}
	address = args.positional[0];
	memset(&quota, 0, sizeof(quota));
	if (qc_library_init() != QC_OK) {
		fprintf(stderr, "quotachk: cannot initialise libcurl\n");
		tool_args_free(&args);
		return EXIT_UNKNOWN;
	}
	ret = route(args.config, address, &server, &backend);
	if (ret == QC_OK && server == NULL)
		verdict = QC_VERDICT_NOT_CHECKED; /* no backend serves it */
	else if (ret == QC_OK)
		ret = qc_client_new(server, &client);
	if (ret == QC_OK && server != NULL)
		ret = qc_client_query(client, address, &quota, &verdict);
	/* What qc_client_check() does, keeping the window flag. */
	if (ret == QC_OK && verdict == QC_VERDICT_FITS)
		ret = qc_decide_rule(qc_client_rule(client), &quota, size,
				     &verdict, &flags);
	detail = client != NULL && qc_client_errmsg(client)[0] ?
		 qc_client_errmsg(client) : qc_strerror(ret);
	if (args.values[OPT_JSON] != NULL)
		print_json(address, backend, size, ret, detail, verdict, &quota,
			   client != NULL ? qc_client_rule(client) :
			   qc_config_rule(server != NULL ? server :
					  args.config), flags);
	else
		print_text(address, backend, size, ret, detail, verdict,
			   &quota, flags);
	status = exit_status(ret, verdict);
	qc_client_free(client);
	tool_args_free(&args);
	qc_library_cleanup();
	return status;
}
