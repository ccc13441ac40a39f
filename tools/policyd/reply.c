/*
 * reply.c - verdicts and errors to actions.  An error never becomes a
 * reject by itself: what it becomes is action_error, DUNNO (fail open)
 * unless the administrator chose otherwise.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "reply.h"

enum action_kind
reply_action_for(int error, enum qc_verdict verdict)
{
	if (error == QC_ERR_ADDRESS)
		return ACTION_NOUSER;
	if (error != QC_OK)
		return ACTION_ERROR;
	switch (verdict) {
	case QC_VERDICT_OVER_QUOTA:
		return ACTION_OVERQUOTA;
	case QC_VERDICT_TOO_LARGE:
		return ACTION_TOOLARGE;
	case QC_VERDICT_NO_MAILBOX:
		return ACTION_NOUSER;
	case QC_VERDICT_FITS:
	case QC_VERDICT_NO_QUOTA:
	case QC_VERDICT_NOT_CHECKED:
		return ACTION_FITS;
	}
	return ACTION_ERROR;
}

const char *
reply_action_key(enum action_kind kind)
{
	static const char *const keys[ACTION_KINDS] = {
		"action_fits", "action_overquota", "action_toolarge",
		"action_nouser", "action_error"
	};

	return (unsigned int)kind < ACTION_KINDS ? keys[kind] : "action_error";
}

const char *
reply_action_text(const qc_config_t *config, enum action_kind kind)
{
	const char *text = qc_config_get(config, reply_action_key(kind));

	return text != NULL && text[0] != '\0' ? text : "DUNNO";
}

static int
starts_with_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	return strncasecmp(text, word, n) == 0 &&
	       (text[n] == '\0' || text[n] == ' ' || text[n] == '\t');
}

int
reply_action_refuses(const char *text)
{
	static const char *const refusing[] = {
		"REJECT", "DEFER", "DEFER_IF_PERMIT", "DISCARD"
	};

	if ((text[0] == '4' || text[0] == '5') &&
	    text[1] >= '0' && text[1] <= '9' && text[2] >= '0' &&
	    text[2] <= '9')
		return 1;
	for (size_t i = 0; i < sizeof(refusing) / sizeof(refusing[0]); i++)
		if (starts_with_word(text, refusing[i]))
			return 1;
	return 0;
}
