/*
 * rule.c - qc_rule_t: which server's delivery rule a verdict follows, its
 * grace and how the server rounded the figures (the decision itself is in
 * decide.c).
 *
 * The default rounding comes from the kind because each kind names the
 * server whose figures it reads: Cyrus floors used to KiB, Dovecot rounds
 * used and limit up.  An embedder reading exact figures, or a Dovecot
 * figure under the strict rule, sets it explicitly.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qc_private.h"

#define GRACE_PERCENT_MAX 1000

static const char *const rule_names[] = {"strict", "cyrus", "dovecot"};
#define NRULES (sizeof(rule_names) / sizeof(rule_names[0]))

const char *
qc_quota_rule_name(enum qc_quota_rule kind)
{
	return (unsigned int)kind < NRULES ? rule_names[kind] : "unknown";
}

int
qc_quota_rule_parse(const char *name, enum qc_quota_rule *kind_r)
{
	if (name == NULL || kind_r == NULL)
		return QC_ERR_INVALID;
	for (size_t i = 0; i < NRULES; i++) {
		if (strcmp(name, rule_names[i]) == 0) {
			*kind_r = (enum qc_quota_rule)i;
			return QC_OK;
		}
	}
	return QC_ERR_INVALID;
}

void
qc_rule_init(struct qc_rule *rule, enum qc_quota_rule kind)
{
	memset(rule, 0, sizeof(*rule));
	rule->kind = kind;
	rule->rounding = kind == QC_RULE_DOVECOT ? QC_ROUNDING_CEIL :
			 QC_ROUNDING_USED_FLOOR;
	/* Dovecot's own default quota_grace. */
	rule->grace_percent = 1;
	rule->grace = 10;
}

int
qc_rule_new(enum qc_quota_rule kind, qc_rule_t **rule_r)
{
	qc_rule_t *rule;

	if (rule_r == NULL || (unsigned int)kind >= NRULES)
		return QC_ERR_INVALID;
	rule = malloc(sizeof(*rule));
	if (rule == NULL)
		return QC_ERR_NOMEM;
	qc_rule_init(rule, kind);
	*rule_r = rule;
	return QC_OK;
}

void
qc_rule_free(qc_rule_t *rule)
{
	free(rule);
}

static int
unit_shift(const char *suffix, unsigned int *shift_r)
{
	static const char units[] = "KMGT";
	const char *u;

	if (suffix[0] == '\0' || strcmp(suffix, "B") == 0) {
		*shift_r = 0;
		return 0;
	}
	if (suffix[1] != '\0')
		return -1;
	u = strchr(units, toupper((unsigned char)suffix[0]));
	if (u == NULL)
		return -1;
	*shift_r = 10 * (unsigned int)(u - units + 1);
	return 0;
}

int
qc_grace_parse(const char *text, struct qc_rule *rule)
{
	unsigned long long n;
	unsigned int shift;
	char *end;

	if (text == NULL || !isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	if (strcmp(end, "%") == 0) {
		if (n > GRACE_PERCENT_MAX)
			return -1;
		rule->grace_percent = 1;
		rule->grace = n;
		return 0;
	}
	if (unit_shift(end, &shift) < 0 || n > (UINT64_MAX >> shift))
		return -1;
	rule->grace_percent = 0;
	rule->grace = (uint64_t)n << shift;
	return 0;
}

int
qc_rule_set_grace(qc_rule_t *rule, const char *grace)
{
	if (rule == NULL)
		return QC_ERR_INVALID;
	return qc_grace_parse(grace, rule) < 0 ? QC_ERR_INVALID : QC_OK;
}

int
qc_rule_set_rounding(qc_rule_t *rule, enum qc_rounding rounding)
{
	if (rule == NULL || (unsigned int)rounding > QC_ROUNDING_CEIL)
		return QC_ERR_INVALID;
	rule->rounding = rounding;
	return QC_OK;
}

enum qc_quota_rule
qc_rule_kind(const qc_rule_t *rule)
{
	return rule != NULL ? rule->kind : QC_RULE_STRICT;
}

/*
 * limit * percent / 100 rounded down, as Dovecot computes it, without the
 * product overflowing: (limit / 100) * p + (limit % 100) * p / 100 is the
 * same number.
 */
uint64_t
qc_rule_grace_bytes(const struct qc_rule *rule, uint64_t limit)
{
	uint64_t p = rule->grace, high;

	if (!rule->grace_percent)
		return rule->grace;
	high = limit / 100;
	if (p != 0 && high > UINT64_MAX / p)
		return UINT64_MAX;
	high *= p;
	return high > UINT64_MAX - (limit % 100) * p / 100 ? UINT64_MAX :
	       high + (limit % 100) * p / 100;
}
