/*
 * engine-threads.c - libquotachk's check engine from several threads at
 * once, with the blocking call: what a threaded frontend (a milter, an
 * LMTP proxy) does.  Every thread checks every address ROUNDS times; all
 * threads must get the same verdict for an address.
 *
 *   cc engine-threads.c $(pkg-config --cflags --libs quotachk) -lpthread
 *   ./engine-threads CONFIG THREADS ROUNDS SIZE ADDRESS...
 *
 * QC_CHECK_TIMEOUT_MS in the environment gives every check a deadline of
 * its own, shorter than imap_timeout.
 *
 * Prints "ADDRESS VERDICT" per address (or "ADDRESS error TEXT"), then
 * one line of the engine's counters.  Exit 0, 1 when two threads
 * disagreed, 78 for a bad configuration.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quotachk.h>

struct run {
	qc_engine_t *engine;
	char **addresses;
	int naddresses;
	int rounds;
	uint64_t size;
	uint64_t timeout_ms;    /* per check; 0: imap_timeout */
	int *verdicts;          /* per address: the first answer seen */
	pthread_mutex_t lock;
	int disagreements;
};

/* A verdict, or an error as a negative number, in one int. */
static int
answer_of(qc_check_t *check)
{
	int error = qc_check_error(check);

	return error != QC_OK ? error : (int)qc_check_verdict(check);
}

static void *
worker(void *arg)
{
	struct run *run = arg;
	qc_check_t *check;

	if (qc_check_new(&check) != QC_OK)
		return NULL;
	for (int round = 0; round < run->rounds; round++) {
		for (int i = 0; i < run->naddresses; i++) {
			int answer;

			qc_check_reset(check);
			qc_check_set_recipient(check, run->addresses[i]);
			qc_check_set_size(check, run->size);
			qc_check_set_timeout(check, run->timeout_ms);
			qc_engine_check(run->engine, check);
			answer = answer_of(check);
			pthread_mutex_lock(&run->lock);
			if (run->verdicts[i] == 1000)
				run->verdicts[i] = answer;
			else if (run->verdicts[i] != answer)
				run->disagreements++;
			pthread_mutex_unlock(&run->lock);
		}
	}
	qc_check_free(check);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct run run;
	qc_config_t *config;
	pthread_t *threads;
	int nthreads;

	if (argc < 6) {
		fprintf(stderr, "usage: %s CONFIG THREADS ROUNDS SIZE "
			"ADDRESS...\n", argv[0]);
		return 64;
	}
	memset(&run, 0, sizeof(run));
	nthreads = atoi(argv[2]);
	run.rounds = atoi(argv[3]);
	run.size = strtoull(argv[4], NULL, 10);
	run.timeout_ms = getenv("QC_CHECK_TIMEOUT_MS") != NULL ?
			 strtoull(getenv("QC_CHECK_TIMEOUT_MS"), NULL, 10) : 0;
	run.addresses = argv + 5;
	run.naddresses = argc - 5;
	run.verdicts = malloc(sizeof(int) * (size_t)run.naddresses);
	threads = calloc((size_t)nthreads, sizeof(*threads));
	if (nthreads < 1 || run.verdicts == NULL || threads == NULL)
		return 64;
	for (int i = 0; i < run.naddresses; i++)
		run.verdicts[i] = 1000;
	pthread_mutex_init(&run.lock, NULL);

	qc_library_init();
	qc_config_new(&config);
	if (qc_config_load_file(config, argv[1]) != QC_OK ||
	    qc_config_validate(config) != QC_OK) {
		fprintf(stderr, "%s\n", qc_config_errmsg(config));
		return 78;
	}
	if (qc_engine_new(config, &run.engine) != QC_OK ||
	    qc_engine_start(run.engine) != QC_OK) {
		fprintf(stderr, "%s\n", qc_engine_errmsg(run.engine));
		return 78;
	}
	for (int i = 0; i < nthreads; i++)
		pthread_create(&threads[i], NULL, worker, &run);
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);

	for (int i = 0; i < run.naddresses; i++) {
		int a = run.verdicts[i];

		if (a < 0)
			printf("%s error %s\n", run.addresses[i],
			       qc_error_name(a));
		else
			printf("%s %s\n", run.addresses[i],
			       qc_verdict_name((enum qc_verdict)a));
	}
	printf("checks=%llu lookups=%llu cache_hits=%llu coalesced=%llu "
	       "disagreements=%d\n",
	       (unsigned long long)qc_engine_counter(run.engine,
						     QC_COUNTER_CHECKS),
	       (unsigned long long)qc_engine_counter(run.engine,
						     QC_COUNTER_LOOKUPS),
	       (unsigned long long)qc_engine_counter(run.engine,
						     QC_COUNTER_CACHE_HITS),
	       (unsigned long long)qc_engine_counter(run.engine,
						     QC_COUNTER_COALESCED),
	       run.disagreements);
	if (qc_engine_free(run.engine, 1000) == 0)
		qc_library_cleanup();
	qc_config_free(config);
	free(run.verdicts);
	free(threads);
	return run.disagreements > 0 ? 1 : 0;
}
