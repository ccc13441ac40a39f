/*
 * decide.c - the pure fit decision (DESIGN section 5).
 *
 * Never computes used + size: both may come from a hostile server or
 * client, and a wrapped sum would turn "over" into "fits".  A size of 0
 * means "unknown" at RCPT time and is checked as 1 byte, as the server
 * would reject even the smallest message into a full mailbox.
 *
 * The servers report STORAGE in KiB, so the true figures lie in a window
 * (decided by the rule's rounding).  Every rule accepts less as usage
 * grows and more as the limit grows, so the two ends of the window are
 * (least used, largest limit) and (most used, smallest limit); deciding at
 * both tells whether the rounding leaves the outcome open.  An open
 * outcome is resolved towards accepting: refusing mail the server would
 * have taken is the failure quotachk exists to avoid, while a message
 * accepted wrongly is only refused later by the server itself.
 */
#include "qc_private.h"

#define KIB_SLACK 1023u

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
sub_floor0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static enum qc_verdict
storage_verdict(const struct qc_rule *rule, uint64_t used, uint64_t limit,
		uint64_t size)
{
	uint64_t ceiling;

	switch (rule->kind) {
	case QC_RULE_CYRUS:
		/* lmtpd checks the quota before the message, not with it. */
		return used > limit ? QC_VERDICT_OVER_QUOTA : QC_VERDICT_FITS;
	case QC_RULE_DOVECOT:
		ceiling = add_sat(limit, qc_rule_grace_bytes(rule, limit));
		if (size > ceiling)
			return QC_VERDICT_TOO_LARGE;
		/* The grace lets one last message in, never a second one:
		 * a mailbox at its limit is full whatever the size. */
		if (used >= limit || size > ceiling - used)
			return QC_VERDICT_OVER_QUOTA;
		return QC_VERDICT_FITS;
	case QC_RULE_STRICT:
	default:
		if (size > limit)
			return QC_VERDICT_TOO_LARGE;
		if (used > limit || size > limit - used)
			return QC_VERDICT_OVER_QUOTA;
		return QC_VERDICT_FITS;
	}
}

static enum qc_verdict
verdict_at(const struct qc_rule *rule, const struct qc_quota *q,
	   uint64_t used, uint64_t limit, uint64_t size)
{
	const struct qc_usage *msg = &q->messages;

	if (q->storage.limited) {
		enum qc_verdict v = storage_verdict(rule, used, limit, size);

		if (v != QC_VERDICT_FITS)
			return v;
	}
	if (msg->limited) {
		/* Cyrus lmtpd: at most the limit before this message. */
		int over = rule->kind == QC_RULE_CYRUS ?
			   msg->used > msg->limit : msg->used >= msg->limit;

		if (over)
			return QC_VERDICT_OVER_QUOTA;
	}
	return QC_VERDICT_FITS;
}

int
qc_decide_rule(const qc_rule_t *rule, const struct qc_quota *quota,
	       uint64_t size, enum qc_verdict *verdict_r,
	       unsigned int *flags_r)
{
	const struct qc_usage *st;
	uint64_t used_lo, used_hi, limit_lo, limit_hi;
	enum qc_verdict best, worst;

	if (flags_r != NULL)
		*flags_r = 0;
	if (rule == NULL || quota == NULL || verdict_r == NULL)
		return QC_ERR_INVALID;
	st = &quota->storage;
	if (size == 0)
		size = 1;
	if (!st->limited && !quota->messages.limited) {
		*verdict_r = QC_VERDICT_NO_QUOTA;
		return QC_OK;
	}
	used_lo = used_hi = st->used;
	limit_lo = limit_hi = st->limit;
	switch (rule->rounding) {
	case QC_ROUNDING_USED_FLOOR:
		used_hi = add_sat(st->used, KIB_SLACK);
		break;
	case QC_ROUNDING_CEIL:
		used_lo = sub_floor0(st->used, KIB_SLACK);
		limit_lo = sub_floor0(st->limit, KIB_SLACK);
		break;
	case QC_ROUNDING_EXACT:
	default:
		break;
	}
	best = verdict_at(rule, quota, used_lo, limit_hi, size);
	worst = verdict_at(rule, quota, used_hi, limit_lo, size);
	*verdict_r = best;
	if (flags_r != NULL && best != worst)
		*flags_r |= QC_DECISION_IN_WINDOW;
	return QC_OK;
}

enum qc_verdict
qc_decide(const struct qc_quota *quota, uint64_t size)
{
	static const struct qc_rule strict_exact = {
		QC_RULE_STRICT, QC_ROUNDING_EXACT, 0, 0
	};
	enum qc_verdict verdict = QC_VERDICT_FITS;

	qc_decide_rule(&strict_exact, quota, size, &verdict, NULL);
	return verdict;
}
