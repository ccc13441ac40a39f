/*
 * engine_backends.c - the engine over several backends (the "backends"
 * key): a sub-engine per backend, each a whole engine (pool of
 * imap_connections workers, cache, in-flight table, backoff, timer) on
 * that backend's config, so one slow or dead backend never delays the
 * answers for another's domains.  The top engine routes each check with
 * qc_config_backend_for(), answers at once the recipients no backend
 * serves (QC_VERDICT_NOT_CHECKED), and hands the rest to the sub-engine,
 * whose answers ring the top engine's eventfd.
 *
 * Accounting: a recipient let through is remembered by the engine that
 * answered it (its mailbox is in that backend's cache); a commit adds up
 * the recipients let through on every engine before it counts anything,
 * so a message whose recipients span backends is counted exactly as on
 * one server: once per mailbox, on the backend holding it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "qc_private.h"

static int
sub_new(qc_engine_t *top, const qc_config_t *config, const char *name,
	qc_engine_t **sub_r)
{
	qc_engine_t *sub = NULL;
	int ret = qc_engine_new(config, &sub);

	if (ret != QC_OK) {
		qc_errmsg_set(top->errmsg, "backend %s: %s", name,
			      qc_engine_errmsg(sub));
		qc_engine_free(sub, 0);
		return ret;
	}
	/* One fd for the frontend to watch, whichever backend answers. */
	close(sub->efd);
	sub->efd = top->efd;
	sub->parent = top;
	qc_strlcpy(sub->name, name, sizeof(sub->name));
	*sub_r = sub;
	return QC_OK;
}

/* Once it belongs to the configuration in force (top's lock held). */
static void
publish(qc_engine_t *top, qc_engine_t *sub)
{
	sub->all_next = top->all_subs;
	__atomic_store_n(&top->all_subs, sub, __ATOMIC_RELEASE);
}

int
backends_new(qc_engine_t *e, const qc_config_t *config)
{
	unsigned int n = qc_config_backend_count(config);

	e->backends = 1;
	for (unsigned int i = 0; i < n; i++) {
		int ret = sub_new(e, qc_config_backend(config, i),
				  qc_config_backend_name(config, i),
				  &e->subs[i]);

		if (ret != QC_OK)
			return ret; /* qc_engine_free() frees those made */
		e->nsubs++;
		publish(e, e->subs[i]);
	}
	return QC_OK;
}

qc_engine_t *
backends_route(qc_engine_t *e, qc_check_t *c)
{
	qc_engine_t *sub = NULL;
	unsigned int index;
	int ret;

	/* Under the lock: reconfigure swaps config and subs together. */
	pthread_mutex_lock(&e->lock);
	ret = qc_config_backend_for(e->config, c->recipient, &index);
	if (ret != QC_OK)
		c->route_error = QC_ERR_ADDRESS;
	else if (index != QC_BACKEND_NONE && index < e->nsubs)
		sub = e->subs[index];
	pthread_mutex_unlock(&e->lock);
	if (sub != NULL) {
		c->sub = sub;
		qc_strlcpy(c->backend, sub->name, sizeof(c->backend));
	}
	return sub;
}

int
backends_start(qc_engine_t *e)
{
	for (unsigned int i = 0; i < e->nsubs; i++) {
		int ret = qc_engine_start(e->subs[i]);

		if (ret != QC_OK) {
			qc_errmsg_set(e->errmsg, "backend %s: %s",
				      e->subs[i]->name,
				      qc_engine_errmsg(e->subs[i]));
			return ret;
		}
	}
	return QC_OK;
}

/*
 * A backend no longer listed keeps answering the checks it holds, which
 * need only its copies (rule, clients); its config goes with the caller's
 * old one, so it must not be reached again.
 */
static void
retire_unless_listed(qc_engine_t *sub, qc_engine_t *const *listed,
		     unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (listed[i] == sub)
			return;
	pthread_mutex_lock(&sub->lock);
	sub->config = NULL;
	pthread_mutex_unlock(&sub->lock);
}

static qc_engine_t *
find_sub(qc_engine_t *e, const char *name)
{
	for (unsigned int i = 0; i < e->nsubs; i++)
		if (strcmp(e->subs[i]->name, name) == 0)
			return e->subs[i];
	return NULL;
}

/*
 * All or nothing: first every kept backend prepares its new clients and
 * every new backend gets its engine; only when all succeeded does
 * anything change.  A backend no longer listed retires (answers what it
 * holds, then idles until the top engine is freed).
 */
int
backends_reconfigure(qc_engine_t *e, const qc_config_t *config)
{
	unsigned int n = qc_config_backend_count(config);
	qc_engine_t *next[QC_BACKENDS_MAX];
	struct engine_settings set[QC_BACKENDS_MAX];
	int is_new[QC_BACKENDS_MAX], ret = QC_OK;
	unsigned int done, i;

	for (done = 0; done < n; done++) {
		const char *name = qc_config_backend_name(config, done);
		const qc_config_t *bc = qc_config_backend(config, done);

		next[done] = find_sub(e, name);
		is_new[done] = next[done] == NULL;
		if (is_new[done]) {
			ret = sub_new(e, bc, name, &next[done]);
		} else {
			ret = engine_reconf_prepare(next[done], bc, &set[done]);
			if (ret != QC_OK)
				qc_errmsg_set(e->errmsg, "backend %s: %s", name,
					      qc_engine_errmsg(next[done]));
		}
		if (ret != QC_OK)
			break;
	}
	if (ret != QC_OK) {
		for (i = 0; i < done; i++) {
			if (is_new[i])
				qc_engine_free(next[i], 0);
			else
				engine_reconf_abort(next[i]);
		}
		return ret;
	}
	/* From here on the new configuration is the one; a backend no
	 * longer listed stays on all_subs (retired). */
	pthread_mutex_lock(&e->lock);
	e->config = config;
	memcpy(e->subs, next, n * sizeof(next[0]));
	e->nsubs = n;
	for (i = 0; i < n; i++)
		if (is_new[i])
			publish(e, next[i]);
	for (qc_engine_t *sub = e->all_subs; sub != NULL; sub = sub->all_next)
		retire_unless_listed(sub, next, n);
	pthread_mutex_unlock(&e->lock);
	for (i = 0; i < n; i++) {
		int r;

		if (is_new[i])
			r = e->started ? qc_engine_start(next[i]) : QC_OK;
		else
			r = engine_reconf_apply(next[i],
						qc_config_backend(config, i),
						&set[i]);
		if (r != QC_OK && ret == QC_OK) {
			qc_errmsg_set(e->errmsg, "backend %s: %s",
				      next[i]->name,
				      qc_engine_errmsg(next[i]));
			ret = r;
		}
	}
	return ret;
}

unsigned int
backends_free(qc_engine_t *e, uint64_t wait_ms)
{
	unsigned int stuck = 0;
	qc_engine_t *sub, *next;

	for (sub = e->all_subs; sub != NULL; sub = next) {
		next = sub->all_next;
		stuck += qc_engine_free(sub, wait_ms);
	}
	e->nsubs = 0;
	e->all_subs = NULL;
	return stuck;
}

/* ---- accounting over the backends ---- */

static unsigned int
engines(qc_engine_t *e, qc_engine_t **all)
{
	unsigned int n = 0;

	all[n++] = e; /* recipients no backend serves */
	pthread_mutex_lock(&e->lock);
	for (unsigned int i = 0; i < e->nsubs; i++)
		all[n++] = e->subs[i];
	pthread_mutex_unlock(&e->lock);
	return n;
}

int
backends_commit(qc_engine_t *e, const char *instance,
		uint64_t recipient_count, uint64_t size,
		enum qc_commit_outcome *outcome_r, unsigned int *counted_r)
{
	qc_engine_t *all[QC_BACKENDS_MAX + 1];
	unsigned int n = engines(e, all), counted = 0;
	uint64_t now = engine_now_ms(), let_through = 0;
	int found = 0, overflow = 0, complete;

	for (unsigned int i = 0; i < n; i++) {
		struct txn *txn;

		pthread_mutex_lock(&all[i]->lock);
		txn = txn_table_get(all[i]->txns, instance, 0, now);
		if (txn != NULL) {
			found = 1;
			let_through += txn->let_through;
			overflow |= txn->overflow;
		}
		pthread_mutex_unlock(&all[i]->lock);
	}
	/* txn_complete()'s rule over the sum of the backends. */
	complete = found && !overflow && let_through == recipient_count;
	for (unsigned int i = 0; i < n; i++) {
		struct txn *txn;

		pthread_mutex_lock(&all[i]->lock);
		txn = txn_table_get(all[i]->txns, instance, 0, now);
		if (txn != NULL && complete)
			counted += engine_charge(all[i], txn, size, now);
		txn_table_remove(all[i]->txns, instance);
		pthread_mutex_unlock(&all[i]->lock);
	}
	if (outcome_r != NULL)
		*outcome_r = complete ? QC_COMMIT_COUNTED : found ?
			     QC_COMMIT_RECIPIENTS_DIFFER :
			     QC_COMMIT_UNKNOWN_MESSAGE;
	if (counted_r != NULL)
		*counted_r = counted;
	return QC_OK;
}

/* ---- the public side ---- */

/* The subs array changes only in qc_engine_reconfigure(), which runs
 * in the controlling thread, as these calls do (see quotachk.h). */
unsigned int
qc_engine_backend_count(const qc_engine_t *e)
{
	/* A metrics thread may ask while the controlling thread reloads. */
	qc_engine_t *m = (qc_engine_t *)e;
	unsigned int n;

	if (e == NULL)
		return 0;
	pthread_mutex_lock(&m->lock);
	n = m->nsubs;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* The name lives in the sub-engine, which is only freed with the engine
 * (a retired backend idles): it outlives any reload. */
const char *
qc_engine_backend_name(const qc_engine_t *e, unsigned int index)
{
	qc_engine_t *m = (qc_engine_t *)e;
	const char *name = NULL;

	if (e == NULL)
		return NULL;
	pthread_mutex_lock(&m->lock);
	if (index < m->nsubs)
		name = m->subs[index]->name;
	pthread_mutex_unlock(&m->lock);
	return name;
}

uint64_t
qc_engine_backend_counter(qc_engine_t *e, unsigned int index,
			  enum qc_counter which)
{
	qc_engine_t *sub = NULL;

	if (e == NULL || (unsigned int)which > QC_COUNTER_COUNTED)
		return 0;
	pthread_mutex_lock(&e->lock);
	if (index < e->nsubs)
		sub = e->subs[index];
	pthread_mutex_unlock(&e->lock);
	return sub != NULL ? engine_own_counter(sub, which) : 0;
}

const char *
qc_check_backend(const qc_check_t *c)
{
	return c != NULL ? c->backend : "";
}
