/*
 * imap_quote.c - a mailbox name as an IMAP quoted string (RFC 9051 4.3).
 *
 * The name comes from a recipient address, i.e. from a stranger.  Only a
 * quoted string of printable ASCII is sent: it cannot end the command line
 * (no CR, LF), cannot open a literal ({N} and {N+} inside quotes are plain
 * text) and cannot be cut short (" and \ are escaped).  Cyrus consumes the
 * bytes after a LITERAL+ marker as data, so nothing else is safe to send
 * on a connection that is kept open.
 */
#include "qc_private.h"

int
qc_imap_quote(const char *name, char *out, size_t outsize)
{
	size_t pos = 0;

	if (outsize < 3)
		return QC_ERR_INVALID;
	out[pos++] = '"';
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p > 0x7e)
			return QC_ERR_ADDRESS;
		if (pos + 4 > outsize) /* escape + char + quote + NUL */
			return QC_ERR_ADDRESS;
		if (*p == '"' || *p == '\\')
			out[pos++] = '\\';
		out[pos++] = (char)*p;
	}
	out[pos++] = '"';
	out[pos] = '\0';
	return QC_OK;
}
