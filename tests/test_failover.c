/*
 * test_failover.c - lib/failover.c: the order in which a client tries its
 * imap_url servers, the per-URL backoff and the return to the preferred
 * server, on a clock the test moves.
 */
#include <criterion/criterion.h>
#include "qc_private.h"

static void
expect_order(const struct qc_failover *f, uint64_t now, const char *want)
{
	unsigned int order[QC_URLS_MAX], n = qc_failover_order(f, now, order);
	char got[2 * QC_URLS_MAX + 1] = "";

	for (unsigned int i = 0; i < n; i++) {
		got[2 * i] = (char)('0' + order[i]);
		got[2 * i + 1] = i + 1 < n ? ' ' : '\0';
	}
	cr_expect_str_eq(got, want, "at %llu ms: order %s, expected %s",
			 (unsigned long long)now, got, want);
}

Test(failover, list_order_from_the_preferred_url)
{
	struct qc_failover f;

	qc_failover_init(&f, 3);
	expect_order(&f, 0, "0 1 2");
	qc_failover_prefer(&f, 1);
	expect_order(&f, 0, "1 2 0");
	qc_failover_prefer(&f, 5); /* worker 5 of a 3-URL list */
	expect_order(&f, 0, "2 0 1");
}

Test(failover, a_failed_url_goes_last_until_its_backoff_ends)
{
	struct qc_failover f;

	qc_failover_init(&f, 2);
	qc_failover_failed(&f, 0, 1000);
	expect_order(&f, 1000, "1 0");
	expect_order(&f, 1999, "1 0");
	expect_order(&f, 2000, "0 1"); /* 1 s later: tried again, first */
}

Test(failover, backoff_doubles_to_a_cap_and_resets_on_success)
{
	static const uint64_t want[] = {1000, 2000, 4000, 8000, 10000, 10000};
	struct qc_failover f;

	qc_failover_init(&f, 2);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		qc_failover_failed(&f, 0, 50000);
		cr_expect_eq(f.url[0].retry_at_ms, 50000 + want[i],
			     "failure %zu: retry at %llu, expected %llu", i + 1,
			     (unsigned long long)f.url[0].retry_at_ms,
			     (unsigned long long)(50000 + want[i]));
	}
	qc_failover_succeeded(&f, 0);
	expect_order(&f, 50000, "0 1");
	qc_failover_failed(&f, 0, 60000);
	cr_expect_eq(f.url[0].retry_at_ms, 61000, "after a success: 1 s again");
}

Test(failover, all_backing_off_still_tried_soonest_due_first)
{
	struct qc_failover f;

	qc_failover_init(&f, 3);
	qc_failover_failed(&f, 0, 100);
	qc_failover_failed(&f, 0, 100); /* 0: due at 2100 */
	qc_failover_failed(&f, 2, 200); /* 2: due at 1200 */
	qc_failover_failed(&f, 1, 300); /* 1: due at 1300 */
	expect_order(&f, 500, "2 1 0");
	expect_order(&f, 1250, "2 1 0"); /* 2 due; the rest by due time */
	expect_order(&f, 1300, "1 2 0");
}

Test(failover, returns_to_the_preferred_url_once_it_is_due)
{
	struct qc_failover f;

	qc_failover_init(&f, 2);
	qc_failover_prefer(&f, 0);
	cr_expect_not(qc_failover_should_return(&f, 0, 0),
		      "already on the preferred URL");
	qc_failover_failed(&f, 0, 1000);
	cr_expect_not(qc_failover_should_return(&f, 1, 1500),
		      "preferred still backing off");
	cr_expect(qc_failover_should_return(&f, 1, 2000),
		  "preferred due again: go back");
}

Test(failover, one_url_is_never_skipped)
{
	struct qc_failover f;

	qc_failover_init(&f, 1);
	qc_failover_failed(&f, 0, 0);
	expect_order(&f, 1, "0");
	cr_expect_not(qc_failover_should_return(&f, 0, 5000));
}
