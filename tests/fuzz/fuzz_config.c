/*
 * fuzz_config.c - libFuzzer target for the configuration parser: any file
 * content gives QC_OK or QC_ERR_CONFIG, never a crash, and an error
 * message is always a terminated string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qc_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	qc_config_t *cfg;
	FILE *fp;
	int ret;

	if (size == 0 || qc_config_new(&cfg) != QC_OK)
		return 0;
	fp = fmemopen((void *)data, size, "r");
	if (fp == NULL) {
		qc_config_free(cfg);
		return 0;
	}
	ret = qc_config_load_stream(cfg, fp, "fuzz.conf");
	fclose(fp);
	if (ret != QC_OK && ret != QC_ERR_CONFIG && ret != QC_ERR_NOMEM)
		abort();
	if (strlen(qc_config_errmsg(cfg)) >= QC_ERRMSG_MAX)
		abort();
	(void)qc_config_validate(cfg);
	qc_config_free(cfg);
	return 0;
}
