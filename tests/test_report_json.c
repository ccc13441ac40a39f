/*
 * test_report_json.c - a quotachk-report JSON file parses back with
 * json-c and holds what the integration test expects.  The shell test
 * (tests/integration/report-cyrus.sh) produces the file and passes
 * REPORT_JSON, REPORT_MAILBOXES (expected count) and REPORT_SAMPLE
 * ("mailbox used limit" of one mailbox asked directly with GETQUOTAROOT).
 */
#include <stdio.h>
#include <stdlib.h>
#include <criterion/criterion.h>
#include <json-c/json.h>

static json_object *
get(json_object *o, const char *key)
{
	json_object *v = NULL;

	cr_assert(json_object_object_get_ex(o, key, &v), "missing %s", key);
	return v;
}

Test(report_json, parses_back_and_matches_the_server)
{
	const char *path = getenv("REPORT_JSON");
	const char *count = getenv("REPORT_MAILBOXES");
	const char *sample = getenv("REPORT_SAMPLE");
	char name[256];
	unsigned long long used, limit;
	json_object *top, *boxes;
	size_t n, found = 0;

	if (path == NULL)
		cr_skip_test("REPORT_JSON not set (run by report-cyrus.sh)");
	top = json_object_from_file(path);
	cr_assert_not_null(top, "%s does not parse: %s", path,
			   json_util_get_last_err());
	cr_expect_eq(json_object_get_type(get(top, "generated")),
		     json_type_string);
	cr_expect_eq(strlen(json_object_get_string(get(top, "generated"))),
		     20, "ISO 8601 UTC, e.g. 2026-11-30T13:56:05Z");
	cr_expect_eq(strncmp(json_object_get_string(get(top, "server")),
			     "imap://", 7), 0);
	cr_expect(json_object_get_boolean(get(top, "success")));
	boxes = get(top, "mailboxes");
	cr_assert_eq(json_object_get_type(boxes), json_type_array);
	n = json_object_array_length(boxes);
	if (count != NULL)
		cr_expect_eq(n, strtoull(count, NULL, 10));
	cr_expect_eq(json_object_get_uint64(get(get(top, "totals"),
						"mailboxes")), n);
	cr_expect_eq(json_object_array_length(get(top, "errors")), 0);
	cr_assert_not_null(sample);
	cr_assert_eq(sscanf(sample, "%255s %llu %llu", name, &used, &limit), 3);
	for (size_t i = 0; i < n; i++) {
		json_object *box = json_object_array_get_idx(boxes, i);
		json_object *storage;

		if (strcmp(json_object_get_string(get(box, "mailbox")),
			   name) != 0)
			continue;
		found++;
		storage = get(box, "storage");
		cr_expect_eq(json_object_get_uint64(get(storage, "used")), used);
		cr_expect_eq(json_object_get_uint64(get(storage, "limit")),
			     limit);
		cr_expect_float_eq(json_object_get_double(get(storage,
					"percent")),
				   limit ? used * 100.0 / limit : 0.0, 1e-6);
	}
	cr_expect_eq(found, 1, "%s listed %zu times", name, found);
	json_object_put(top);
}
