/*
 * fuzz_imap_response.c - libFuzzer target for everything libquotachk
 * reads from an IMAP server: response framing, the QUOTAROOT/QUOTA
 * parser and the LIST parser.  Besides "no crash, no leak", it checks
 * invariants: a parsed quota has a NUL-terminated root, and framing never
 * claims more bytes than it was given.
 */
#include <stdlib.h>
#include <string.h>

#include "qc_private.h"

static int
count_list(char separator, const char *name, void *ctx)
{
	(void)separator;
	(void)name;
	++*(int *)ctx;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct qc_quota quota;
	enum qc_verdict verdict;
	char errtext[200];
	long len;
	int lists = 0;

	len = qc_imap_response_length(buf, size);
	if (len > 0 && (size_t)len > size)
		abort();
	if (qc_quota_parse(buf, size, "Q1", "user.x", &quota, &verdict,
			   errtext, sizeof(errtext)) == QC_OK) {
		if (memchr(quota.root, '\0', sizeof(quota.root)) == NULL)
			abort();
		if (verdict == QC_VERDICT_FITS && !quota.storage.limited &&
		    !quota.messages.limited)
			abort();
		(void)qc_decide(&quota, size);
	}
	if (memchr(errtext, '\0', sizeof(errtext)) == NULL)
		abort();
	(void)qc_list_parse(buf, size, "Q1", count_list, &lists, errtext,
			    sizeof(errtext));
	return 0;
}
