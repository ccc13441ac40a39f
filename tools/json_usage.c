/* json_usage.c - see json_usage.h. */
#include "json_usage.h"

json_object *
tool_usage_json(const struct qc_usage *u)
{
	json_object *o;

	if (!u->limited)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "used", json_object_new_uint64(u->used));
	json_object_object_add(o, "limit", json_object_new_uint64(u->limit));
	return o;
}
