/*
 * test_cache.c - the answer cache of quotachk-policyd
 * (tools/policyd/cache.c): TTL, size bound, errors never stored,
 * negative entries, counting accepted messages apart from the server's
 * figures, stamps against late answers, flush and reconfigure.
 */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>

#include "cache.h"

static struct cache_value
value(enum qc_verdict verdict, uint64_t used, uint64_t limit,
      uint64_t msgs, uint64_t msg_limit)
{
	struct cache_value v;

	memset(&v, 0, sizeof(v));
	v.verdict = verdict;
	v.storage.limited = limit > 0;
	v.storage.used = used;
	v.storage.limit = limit;
	v.messages.limited = msg_limit > 0;
	v.messages.used = msgs;
	v.messages.limit = msg_limit;
	snprintf(v.mailbox, sizeof(v.mailbox), "user.x");
	return v;
}

Test(cache, hit_within_ttl_miss_after)
{
	struct cache *c = cache_create(100, 30000);
	struct cache_value v = value(QC_VERDICT_FITS, 10, 100, 0, 0), got;

	cr_assert_eq(cache_get(c, "a@x", 0, &got), 0);
	cr_assert_eq(cache_put(c, "a@x", QC_OK, &v, 1000, 1), 0);
	cr_assert_eq(cache_get(c, "a@x", 1000, &got), 1);
	cr_assert_eq(got.storage.used, 10);
	cr_assert_eq(got.storage.limit, 100);
	cr_assert_str_eq(got.mailbox, "user.x");
	cr_assert_eq(cache_get(c, "a@x", 30999, &got), 1);
	cr_assert_eq(cache_get(c, "a@x", 31000, &got), 0, "expired entry hit");
	cr_assert_eq(cache_count(c), 0, "expired entry kept");
	cache_destroy(&c);
	cr_assert_null(c);
}

struct put_case {
	const char *name;
	int error;
	enum qc_verdict verdict;
	int stored;
};

static const struct put_case put_cases[] = {
	{"limits found", QC_OK, QC_VERDICT_FITS, 1},
	{"no quota", QC_OK, QC_VERDICT_NO_QUOTA, 1},
	{"negative entry: no mailbox", QC_OK, QC_VERDICT_NO_MAILBOX, 1},
	{"not checked is no answer", QC_OK, QC_VERDICT_NOT_CHECKED, 0},
	{"over quota is a decision, not an answer", QC_OK,
	 QC_VERDICT_OVER_QUOTA, 0},
	{"timeout", QC_ERR_TIMEOUT, QC_VERDICT_FITS, 0},
	{"connect", QC_ERR_CONNECT, QC_VERDICT_FITS, 0},
	{"server NO", QC_ERR_SERVER, QC_VERDICT_NO_MAILBOX, 0},
	{"protocol", QC_ERR_PROTOCOL, QC_VERDICT_NO_QUOTA, 0},
	{"address", QC_ERR_ADDRESS, QC_VERDICT_NO_MAILBOX, 0},
};

Test(cache, only_answers_are_stored_never_errors)
{
	for (size_t i = 0; i < sizeof(put_cases) / sizeof(put_cases[0]); i++) {
		const struct put_case *pc = &put_cases[i];
		struct cache *c = cache_create(100, 30000);
		struct cache_value v = value(pc->verdict, 1, 100, 0, 0), got;
		int r = cache_put(c, "k@x", pc->error, &v, 0, 1);

		cr_assert_eq(r == 0, pc->stored, "row %zu (%s): put %d", i,
			     pc->name, r);
		cr_assert_eq(cache_get(c, "k@x", 1, &got), pc->stored,
			     "row %zu (%s)", i, pc->name);
		if (pc->stored)
			cr_assert_eq(got.verdict, pc->verdict, "row %zu", i);
		cache_destroy(&c);
	}
}

Test(cache, ttl_zero_is_off)
{
	struct cache *c = cache_create(100, 0);
	struct cache_value v = value(QC_VERDICT_FITS, 1, 100, 0, 0), got;

	cr_assert_eq(cache_put(c, "a@x", QC_OK, &v, 0, 1), -1);
	cr_assert_eq(cache_get(c, "a@x", 0, &got), 0);
	cache_destroy(&c);
}

Test(cache, bounded_oldest_goes_first)
{
	struct cache *c = cache_create(16, 60000);
	struct cache_value v = value(QC_VERDICT_NO_QUOTA, 0, 0, 0, 0), got;
	char key[32];

	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user%04d@x", i);
		cr_assert_eq(cache_put(c, key, QC_OK, &v, (uint64_t)i, 1), 0);
		cr_assert_leq(cache_count(c), 16, "after %d: %zu", i,
			      cache_count(c));
	}
	cr_assert_eq(cache_count(c), 16);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "user%04d@x", i);
		cr_assert_eq(cache_get(c, key, 1000, &got), i >= 984,
			     "key %s", key);
	}
	cache_destroy(&c);
}

Test(cache, put_replaces_and_restarts_ttl)
{
	struct cache *c = cache_create(4, 1000);
	struct cache_value v1 = value(QC_VERDICT_FITS, 1, 100, 0, 0);
	struct cache_value v2 = value(QC_VERDICT_FITS, 50, 100, 0, 0), got;

	cache_put(c, "a@x", QC_OK, &v1, 0, 1);
	cache_put(c, "a@x", QC_OK, &v2, 900, 2);
	cr_assert_eq(cache_count(c), 1);
	cr_assert_eq(cache_get(c, "a@x", 1500, &got), 1);
	cr_assert_eq(got.storage.used, 50);
	cache_destroy(&c);
}

struct charge_case {
	const char *name;
	struct cache_value v;
	uint64_t size;
	int counted;
	uint64_t want_used, want_msgs;       /* as the decision sees them */
};

Test(cache, charge_table)
{
	const struct charge_case cases[] = {
		{"grows by size", value(QC_VERDICT_FITS, 10, 100, 3, 10), 20,
		 1, 30, 4},
		{"size 0 counts as 1", value(QC_VERDICT_FITS, 10, 100, 3, 10),
		 0, 1, 11, 4},
		{"only messages limited", value(QC_VERDICT_FITS, 10, 0, 3, 10),
		 20, 1, 30, 4},
		{"saturates", value(QC_VERDICT_FITS, UINT64_MAX - 1, UINT64_MAX,
				    0, 0), 10, 1, UINT64_MAX, 1},
		{"no quota: nothing to count",
		 value(QC_VERDICT_NO_QUOTA, 0, 0, 0, 0), 20, 0, 0, 0},
		{"no mailbox: nothing to count",
		 value(QC_VERDICT_NO_MAILBOX, 0, 0, 0, 0), 20, 0, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cache *c = cache_create(8, 1000);
		struct cache_value got;
		struct qc_quota q;

		cache_put(c, "a@x", QC_OK, &cases[i].v, 0, 1);
		cr_assert_eq(cache_charge(c, "a@x", cases[i].size, 10),
			     cases[i].counted, "row %zu (%s)", i, cases[i].name);
		cr_assert_eq(cache_get(c, "a@x", 10, &got), 1, "row %zu", i);
		/* The server's figures stay as the server gave them. */
		cr_assert_eq(got.storage.used, cases[i].v.storage.used,
			     "row %zu (%s): server figure changed", i,
			     cases[i].name);
		cr_assert_eq(got.messages.used, cases[i].v.messages.used,
			     "row %zu (%s)", i, cases[i].name);
		cache_value_quota(&got, &q);
		cr_assert_eq(q.storage.used, cases[i].want_used,
			     "row %zu (%s): used %llu", i, cases[i].name,
			     (unsigned long long)q.storage.used);
		cr_assert_eq(q.messages.used, cases[i].want_msgs,
			     "row %zu (%s)", i, cases[i].name);
		cache_destroy(&c);
	}
}

/* A burst of accepted messages within one TTL stops at the limit, as
 * qc_decide() on the counted figures says; reading never counts. */
Test(cache, accepted_burst_cannot_overfill_reads_count_nothing)
{
	struct cache *c = cache_create(8, 30000);
	struct cache_value v = value(QC_VERDICT_FITS, 0, 1000, 0, 0), got;
	struct qc_quota q;
	int accepted = 0;

	cache_put(c, "a@x", QC_OK, &v, 0, 1);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(cache_get(c, "a@x", 1, &got), 1);
		cache_value_quota(&got, &q);
		cr_assert_eq(qc_decide(&q, 300), QC_VERDICT_FITS,
			     "read %d changed the figures", i);
	}
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(cache_get(c, "a@x", 1, &got), 1);
		cache_value_quota(&got, &q);
		if (qc_decide(&q, 300) != QC_VERDICT_FITS)
			continue;
		accepted++;
		cache_charge(c, "a@x", 300, 1);
	}
	cr_assert_eq(accepted, 3, "%d messages of 300 accepted into 1000",
		     accepted);
	cache_destroy(&c);
}

Test(cache, refresh_from_server_drops_what_was_counted)
{
	struct cache *c = cache_create(8, 30000);
	struct cache_value v = value(QC_VERDICT_FITS, 100, 1000, 0, 0), got;

	cache_put(c, "a@x", QC_OK, &v, 0, 1);
	cache_charge(c, "a@x", 500, 1);
	cr_assert_eq(cache_get(c, "a@x", 2, &got), 1);
	cr_assert_eq(got.counted_bytes, 500);
	cr_assert_eq(got.counted_messages, 1);
	v.storage.used = 600;            /* the server has the message now */
	cr_assert_eq(cache_put(c, "a@x", QC_OK, &v, 3, 2), 0);
	cr_assert_eq(cache_get(c, "a@x", 4, &got), 1);
	cr_assert_eq(got.storage.used, 600);
	cr_assert_eq(got.counted_bytes, 0, "counted twice after refresh");
	cr_assert_eq(got.counted_messages, 0);
	cache_destroy(&c);
}

Test(cache, late_answer_never_replaces_a_newer_one)
{
	struct cache *c = cache_create(8, 30000);
	struct cache_value newer = value(QC_VERDICT_FITS, 900, 1000, 0, 0);
	struct cache_value older = value(QC_VERDICT_FITS, 1, 1000, 0, 0), got;

	cr_assert_eq(cache_put(c, "a@x", QC_OK, &newer, 10, 7), 0);
	cr_assert_eq(cache_put(c, "a@x", QC_OK, &older, 11, 6), -1,
		     "lookup 6 answered after lookup 7 replaced it");
	cr_assert_eq(cache_get(c, "a@x", 12, &got), 1);
	cr_assert_eq(got.storage.used, 900);
	cr_assert_eq(cache_put(c, "a@x", QC_OK, &older, 13, 8), 0);
	cr_assert_eq(cache_get(c, "a@x", 14, &got), 1);
	cr_assert_eq(got.storage.used, 1);
	cache_destroy(&c);
}

Test(cache, charge_ignores_missing_and_expired)
{
	struct cache *c = cache_create(8, 100);
	struct cache_value v = value(QC_VERDICT_FITS, 0, 1000, 0, 0), got;

	cr_assert_eq(cache_charge(c, "nobody@x", 5, 0), 0);
	cr_assert_eq(cache_count(c), 0);
	cache_put(c, "a@x", QC_OK, &v, 0, 1);
	cr_assert_eq(cache_charge(c, "a@x", 5, 200), 0);
	cr_assert_eq(cache_get(c, "a@x", 50, &got), 0);
	cache_destroy(&c);
}

Test(cache, many_keys_all_found_after_growth)
{
	struct cache *c = cache_create(5000, 60000);
	struct cache_value v = value(QC_VERDICT_FITS, 1, 100, 0, 0), got;
	char key[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "u%d@example.test", i);
		v.storage.used = (uint64_t)i;
		cache_put(c, key, QC_OK, &v, 0, 1);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "u%d@example.test", i);
		cr_assert_eq(cache_get(c, key, 1, &got), 1, "%s lost", key);
		cr_assert_eq(got.storage.used, (uint64_t)i, "%s", key);
	}
	cache_destroy(&c);
}

Test(cache, flush_and_configure)
{
	struct cache *c = cache_create(100, 1000);
	struct cache_value v = value(QC_VERDICT_FITS, 1, 100, 0, 0), got;
	char key[32];

	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "u%d@x", i);
		cache_put(c, key, QC_OK, &v, 0, 1);
	}
	cache_configure(c, 10, 1000);
	cr_assert_eq(cache_count(c), 10);
	cr_assert_eq(cache_get(c, "u49@x", 1, &got), 1, "newest dropped");
	cr_assert_eq(cache_get(c, "u0@x", 1, &got), 0, "oldest kept");
	cache_flush(c);
	cr_assert_eq(cache_count(c), 0);
	cache_put(c, "a@x", QC_OK, &v, 0, 1);
	cache_configure(c, 10, 0);
	cr_assert_eq(cache_count(c), 0, "ttl 0 keeps entries");
	cache_destroy(&c);
}
