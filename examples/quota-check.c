/*
 * quota-check.c - the smallest useful program on libquotachk, built in
 * the tests against the *installed* library:
 *
 *   cc -o quota-check quota-check.c $(pkg-config --cflags --libs quotachk)
 *   ./quota-check /etc/quotachk.conf bob@example.com 250000
 *
 * Without arguments it prints the library version and exits.
 */
#include <stdio.h>
#include <stdlib.h>

#include <quotachk.h>

int
main(int argc, char **argv)
{
	qc_config_t *config = NULL;
	qc_client_t *client = NULL;
	struct qc_quota quota;
	enum qc_verdict verdict;
	int ret;

	if (argc != 4) {
		printf("libquotachk %s (built against %s)\n",
		       qc_version_string(), QC_VERSION_STRING);
		printf("usage: %s CONFIG ADDRESS SIZE\n", argv[0]);
		return qc_version() >= QC_VERSION_NUM ? 0 : 1;
	}
	qc_library_init();
	ret = qc_config_new(&config);
	if (ret == QC_OK)
		ret = qc_config_load_file(config, argv[1]);
	if (ret == QC_OK)
		ret = qc_config_validate(config);
	if (ret != QC_OK) {
		fprintf(stderr, "%s\n", qc_config_errmsg(config));
		qc_config_free(config);
		return 78;
	}
	ret = qc_client_new(config, &client);
	if (ret == QC_OK)
		ret = qc_client_check(client, argv[2], strtoull(argv[3], NULL, 10),
				      &quota, &verdict);
	if (ret != QC_OK)
		fprintf(stderr, "%s: %s\n", qc_strerror(ret),
			qc_client_errmsg(client));
	else
		printf("%s: %s (%llu of %llu bytes used)\n", argv[2],
		       qc_verdict_name(verdict),
		       (unsigned long long)quota.storage.used,
		       (unsigned long long)quota.storage.limit);
	qc_client_free(client);
	qc_config_free(config);
	qc_library_cleanup();
	return ret == QC_OK ? 0 : 3;
}
