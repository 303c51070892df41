/*
 * search.h — wall-clock search over a parsed expression (internal to cron/).
 *
 * Wall times are local seconds (base/civil.h). These know nothing of zones:
 * cron.c maps wall times to instants period by period.
 */
#ifndef CF_CRON_SEARCH_H
#define CF_CRON_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "cron/cron_int.h"

/* The first matching wall time >= from and < limit. */
bool cron_search_wall_next(const cron_expr *e, int64_t from, int64_t limit, int64_t *out);

/* The last matching wall time <= from and >= floor. */
bool cron_search_wall_prev(const cron_expr *e, int64_t from, int64_t floor, int64_t *out);

/* Fills e->day_masks; the parser calls it once the fields are set. */
void cron_search_prepare(cron_expr *e);

#endif
