/* test_decide.c - the pure fit decision, with overflow edge rows. */
#include <criterion/criterion.h>

#include "qc_private.h"

#define MAX UINT64_MAX
#define NONE {0, 0, 0}
#define LIM(u, l) {1, (u), (l)}

struct row {
	struct qc_usage storage, messages;
	uint64_t size;
	enum qc_verdict expect;
};

static const struct row rows[] = {
	/* storage used/limit      messages           size  verdict */
	{NONE,             NONE,           100, QC_VERDICT_NO_QUOTA},
	{LIM(0, 1000),     NONE,           0,   QC_VERDICT_FITS},
	{LIM(999, 1000),   NONE,           0,   QC_VERDICT_FITS},  /* 0 = 1 */
	{LIM(1000, 1000),  NONE,           0,   QC_VERDICT_OVER_QUOTA},
	{LIM(900, 1000),   NONE,           100, QC_VERDICT_FITS},  /* at limit */
	{LIM(900, 1000),   NONE,           101, QC_VERDICT_OVER_QUOTA},
	{LIM(0, 1000),     NONE,           1000, QC_VERDICT_FITS},
	{LIM(0, 1000),     NONE,           1001, QC_VERDICT_TOO_LARGE},
	{LIM(5000, 1000),  NONE,           1,   QC_VERDICT_OVER_QUOTA},
	{LIM(MAX, MAX),    NONE,           1,   QC_VERDICT_OVER_QUOTA},
	{LIM(MAX - 1, MAX), NONE,          1,   QC_VERDICT_FITS},
	{LIM(10, MAX),     NONE,           MAX, QC_VERDICT_OVER_QUOTA},
	{LIM(1, 100),      NONE,           MAX, QC_VERDICT_TOO_LARGE},
	{LIM(0, 0),        NONE,           0,   QC_VERDICT_TOO_LARGE},
	{NONE,             LIM(1, 2),      5,   QC_VERDICT_FITS},
	{NONE,             LIM(2, 2),      5,   QC_VERDICT_OVER_QUOTA},
	{NONE,             LIM(3, 2),      5,   QC_VERDICT_OVER_QUOTA},
	{NONE,             LIM(0, 0),      5,   QC_VERDICT_OVER_QUOTA},
	{NONE,             LIM(MAX, MAX),  5,   QC_VERDICT_OVER_QUOTA},
	{LIM(0, 1000),     LIM(3, 2),      5,   QC_VERDICT_OVER_QUOTA},
	{LIM(0, 1000),     LIM(1, 2),      5000, QC_VERDICT_TOO_LARGE},
};

Test(decide, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct qc_quota q;

		memset(&q, 0, sizeof(q));
		q.storage = rows[i].storage;
		q.messages = rows[i].messages;
		cr_expect_eq(qc_decide(&q, rows[i].size), rows[i].expect,
			     "row %zu: got %s, expected %s", i,
			     qc_verdict_name(qc_decide(&q, rows[i].size)),
			     qc_verdict_name(rows[i].expect));
	}
}

Test(errors, every_code_has_a_sentence_and_name)
{
	static const int codes[] = {
#define CODE(name, value, text) name,
		QC_ERRORS(CODE)
#undef CODE
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		cr_expect_neq(strcmp(qc_strerror(codes[i]),
				     "unknown libquotachk error code"), 0);
		cr_expect_eq(strncmp(qc_error_name(codes[i]), "QC_", 3), 0);
	}
	cr_expect_str_eq(qc_strerror(12345), "unknown libquotachk error code");
	cr_expect_str_eq(qc_error_name(QC_ERR_TIMEOUT), "QC_ERR_TIMEOUT");
	cr_expect_str_eq(qc_verdict_name(QC_VERDICT_OVER_QUOTA), "overquota");
}

Test(version, runtime_matches_header)
{
	cr_expect_eq(qc_version(), QC_VERSION_NUM);
	cr_expect_str_eq(qc_version_string(), QC_VERSION_STRING);
}
