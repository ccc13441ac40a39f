/*
 * url_list.c - imap_url as a list: several URLs (Murder frontends, or any
 * servers that answer alike) separated by commas and/or white space.
 *
 * Pure: the config check and the client both split the value here, so
 * what the config accepts is exactly what the client will try.
 */
#include <stdio.h>
#include <string.h>

#include "qc_private.h"

static int
is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

int
qc_url_list_split(const char *value, char urls_r[][QC_URL_MAX],
		  unsigned int *count_r, char *why, size_t why_size)
{
	const char *p = value;
	unsigned int n = 0;

	*count_r = 0;
	for (;;) {
		const char *start;
		size_t len;
		int commas = 0;

		/* Between two URLs: white space and at most one comma, so a
		 * doubled comma (a URL left out by mistake) is reported. */
		while (is_separator(*p)) {
			if (*p == ',' && (++commas > 1 || n == 0)) {
				snprintf(why, why_size, "empty entry in the "
					 "list; separate URLs with one comma "
					 "or white space");
				return -1;
			}
			p++;
		}
		if (*p == '\0') {
			if (commas > 0) {
				snprintf(why, why_size, "the list ends with a "
					 "comma; remove it or add a URL");
				return -1;
			}
			break;
		}
		start = p;
		while (*p != '\0' && !is_separator(*p))
			p++;
		len = (size_t)(p - start);
		if (n == QC_URLS_MAX) {
			snprintf(why, why_size, "more than %d URLs; list at "
				 "most %d", QC_URLS_MAX, QC_URLS_MAX);
			return -1;
		}
		if (len >= QC_URL_MAX) {
			snprintf(why, why_size, "URL %u is longer than %d "
				 "bytes", n + 1, QC_URL_MAX - 1);
			return -1;
		}
		if ((len < 7 || strncmp(start, "imap://", 7) != 0) &&
		    (len < 8 || strncmp(start, "imaps://", 8) != 0)) {
			snprintf(why, why_size, "URL %u (%.*s) must be "
				 "imap://host[:port]/ or imaps://host[:port]/",
				 n + 1, (int)(len > 80 ? 80 : len), start);
			return -1;
		}
		if (memchr(start, '@', len) != NULL) {
			snprintf(why, why_size, "URL %u must not contain "
				 "credentials; use imap_user and "
				 "imap_password_file", n + 1);
			return -1;
		}
		memcpy(urls_r[n], start, len);
		urls_r[n][len] = '\0';
		n++;
	}
	*count_r = n;
	return 0;
}
