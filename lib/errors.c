/*
 * errors.c - error sentences, verdict names and the library version.
 * The QC_ERRORS list in quotachk.h generates both the enum and these
 * tables, so a new code cannot lack its message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qc_private.h"

const char *
qc_strerror(int error)
{
	switch (error) {
#define QC_ERROR_TEXT(name, value, text) case name: return text;
	QC_ERRORS(QC_ERROR_TEXT)
#undef QC_ERROR_TEXT
	}
	return "unknown libquotachk error code";
}

const char *
qc_error_name(int error)
{
	switch (error) {
#define QC_ERROR_NAME(name, value, text) case name: return #name;
	QC_ERRORS(QC_ERROR_NAME)
#undef QC_ERROR_NAME
	}
	return "QC_ERR_UNKNOWN";
}

const char *
qc_verdict_name(enum qc_verdict verdict)
{
	switch (verdict) {
	case QC_VERDICT_FITS: return "fits";
	case QC_VERDICT_NO_QUOTA: return "noquota";
	case QC_VERDICT_OVER_QUOTA: return "overquota";
	case QC_VERDICT_TOO_LARGE: return "toolarge";
	case QC_VERDICT_NO_MAILBOX: return "nouser";
	case QC_VERDICT_NOT_CHECKED: return "notchecked";
	}
	return "unknown";
}

unsigned int
qc_version(void)
{
	return QC_VERSION_NUM;
}

const char *
qc_version_string(void)
{
	return QC_VERSION_STRING;
}

void
qc_errmsg_set(char *errmsg, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg, QC_ERRMSG_MAX, fmt, ap);
	va_end(ap);
}

int
qc_strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t len = strlen(src);

	if (dstsize == 0)
		return -1;
	if (len >= dstsize) {
		memcpy(dst, src, dstsize - 1);
		dst[dstsize - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}
