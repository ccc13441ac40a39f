/*
 * check.c - the check object of the engine (quotachk.h): what the owner
 * fills in, and the answer it reads.  Its size is the library's business
 * (an opaque handle), so answers can grow without breaking the ABI.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "qc_private.h"

int
qc_check_new(qc_check_t **check_r)
{
	if (check_r == NULL)
		return QC_ERR_INVALID;
	*check_r = calloc(1, sizeof(**check_r));
	return *check_r != NULL ? QC_OK : QC_ERR_NOMEM;
}

void
qc_check_free(qc_check_t *c)
{
	if (c == NULL)
		return;
	free(c->recipient);
	free(c);
}

void
qc_check_reset(qc_check_t *c)
{
	if (c == NULL)
		return;
	free(c->recipient);
	memset(c, 0, sizeof(*c));
}

static int
settable(const qc_check_t *c)
{
	return c != NULL && c->state != CHECK_WAITING &&
	       c->state != CHECK_ANSWERED;
}

int
qc_check_set_recipient(qc_check_t *c, const char *address)
{
	char *copy;

	if (!settable(c) || address == NULL)
		return QC_ERR_INVALID;
	if ((copy = strdup(address)) == NULL)
		return QC_ERR_NOMEM;
	free(c->recipient);
	c->recipient = copy;
	return QC_OK;
}

int
qc_check_set_size(qc_check_t *c, uint64_t size)
{
	if (!settable(c))
		return QC_ERR_INVALID;
	c->size = size;
	return QC_OK;
}

int
qc_check_set_stage(qc_check_t *c, enum qc_stage stage)
{
	if (!settable(c) || (stage != QC_STAGE_RCPT &&
			     stage != QC_STAGE_END_OF_MESSAGE))
		return QC_ERR_INVALID;
	c->stage = stage;
	return QC_OK;
}

int
qc_check_set_instance(qc_check_t *c, const char *instance)
{
	/* A longer id is no id: cut, two could look alike and join two
	 * messages. */
	if (!settable(c) || instance == NULL ||
	    strlen(instance) >= sizeof(c->instance))
		return QC_ERR_INVALID;
	strcpy(c->instance, instance);
	return QC_OK;
}

int
qc_check_set_timeout(qc_check_t *c, uint64_t timeout_ms)
{
	if (!settable(c))
		return QC_ERR_INVALID;
	c->timeout_ms = timeout_ms;
	return QC_OK;
}

int
qc_check_error(const qc_check_t *c)
{
	return c != NULL ? c->error : QC_ERR_INVALID;
}

enum qc_verdict
qc_check_verdict(const qc_check_t *c)
{
	return c != NULL ? c->verdict : QC_VERDICT_NOT_CHECKED;
}

unsigned int
qc_check_flags(const qc_check_t *c)
{
	return c != NULL ? c->flags : 0;
}

enum qc_source
qc_check_source(const qc_check_t *c)
{
	return c != NULL ? c->source : QC_SOURCE_NONE;
}

int
qc_check_usage(const qc_check_t *c, struct qc_usage *storage_r,
	       struct qc_usage *messages_r, uint64_t *counted_bytes_r)
{
	if (c == NULL || !c->has_usage)
		return QC_ERR_INVALID;
	if (storage_r != NULL)
		*storage_r = c->storage;
	if (messages_r != NULL)
		*messages_r = c->messages;
	if (counted_bytes_r != NULL)
		*counted_bytes_r = c->counted_bytes;
	return QC_OK;
}

const char *
qc_check_mailbox(const qc_check_t *c)
{
	return c != NULL ? c->mailbox : "";
}

const char *
qc_check_errmsg(const qc_check_t *c)
{
	return c != NULL ? c->errmsg : "";
}

unsigned int
qc_check_counted(const qc_check_t *c)
{
	return c != NULL ? c->counted : 0;
}

uint64_t
qc_check_elapsed_us(const qc_check_t *c)
{
	return c != NULL ? c->elapsed_us : 0;
}
