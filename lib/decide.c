/*
 * decide.c - the pure fit decision (DESIGN section 5).
 *
 * Never computes used + size: both may come from a hostile server or
 * client, and a wrapped sum would turn "over" into "fits".  A size of 0
 * means "unknown" at RCPT time and is checked as 1 byte, as the server
 * would reject even the smallest message into a full mailbox.
 */
#include "qc_private.h"

enum qc_verdict
qc_decide(const struct qc_quota *quota, uint64_t size)
{
	const struct qc_usage *st = &quota->storage;
	const struct qc_usage *msg = &quota->messages;

	if (size == 0)
		size = 1;
	if (!st->limited && !msg->limited)
		return QC_VERDICT_NO_QUOTA;
	if (st->limited) {
		if (size > st->limit)
			return QC_VERDICT_TOO_LARGE;
		if (st->used > st->limit || size > st->limit - st->used)
			return QC_VERDICT_OVER_QUOTA;
	}
	if (msg->limited && msg->used >= msg->limit)
		return QC_VERDICT_OVER_QUOTA;
	return QC_VERDICT_FITS;
}
