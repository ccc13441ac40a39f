/*
 * json_usage.h - one quota resource as JSON, the same in every tool:
 * {"used": N, "limit": N}, or NULL (JSON null) when the resource has no
 * limit.  The caller owns the object (json_object_put).
 */
#ifndef QC_TOOLS_JSON_USAGE_H
#define QC_TOOLS_JSON_USAGE_H

#include <json-c/json.h>

#include "quotachk.h"

json_object *tool_usage_json(const struct qc_usage *usage);

#endif
