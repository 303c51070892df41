/*
 * integrations.h — the logic behind the credential and e-mail endpoints,
 * as plain functions of (store, organization, JSON): each returns the
 * HTTP status and sets *out to the response body (a new reference; NULL
 * for 204), {"error": {"code", "message"}} on failure. The route files
 * (routes_credentials.c, routes_email.c) hold these and the CLI uses them
 * too, so `cronflow credential add` checks data exactly as the API does.
 *
 * Credential responses never hold a value: name, type, the names of the
 * fields set, read_only and times. Thread-safe (the store is).
 */
#ifndef CF_API_INTEGRATIONS_H
#define CF_API_INTEGRATIONS_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"
#include "tz/tz.h"

/* POST /api/credentials: {"name", "type", "data": {...}, "read_only"}. 201. */
unsigned api_credential_create(store *s, int64_t org_id, const json_t *body, int64_t now,
                               json_t **out);
/* GET /api/credentials: {"items": [...]} */
unsigned api_credential_list(store *s, int64_t org_id, json_t **out);
/* GET /api/credentials/{name} */
unsigned api_credential_get(store *s, int64_t org_id, const char *name, json_t **out);
/* PUT /api/credentials/{name}: {"data": {...}, "read_only"}: rotation. */
unsigned api_credential_rotate(store *s, int64_t org_id, const char *name, const json_t *body,
                               int64_t now, json_t **out);
/* DELETE /api/credentials/{name}: 204. */
unsigned api_credential_delete(store *s, int64_t org_id, const char *name, json_t **out);

/* Checks a credential's data for its type; a message (in msg) naming the
 * field and why, or true. */
bool api_credential_check(const char *type, const json_t *data, char *msg, size_t cap);

/* POST /api/email/templates: {"name", "subject", "text", "html"}. 201. */
unsigned api_email_template_create(store *s, int64_t org_id, const json_t *body, int64_t now,
                                   json_t **out);
/* GET /api/email/templates */
unsigned api_email_template_list(store *s, int64_t org_id, json_t **out);
/* GET /api/email/templates/{name} */
unsigned api_email_template_get(store *s, int64_t org_id, const char *name, json_t **out);
/* PUT /api/email/templates/{name}: {"subject", "text", "html"} */
unsigned api_email_template_update(store *s, int64_t org_id, const char *name, const json_t *body,
                                   int64_t now, json_t **out);
/* DELETE /api/email/templates/{name}: 204. */
unsigned api_email_template_delete(store *s, int64_t org_id, const char *name, json_t **out);

/* POST /api/email/preview: {"template": NAME} or {"subject", "text",
 * "html"}, and "data": the names templates read ({"trigger": ..., "nodes":
 * ..., "vars": ..., "item": ...}). Renders without sending: {"subject",
 * "text", "html"}; HTML escaped as email_send does. */
unsigned api_email_preview(store *s, int64_t org_id, const json_t *body, tz_db *zones, int64_t now,
                           json_t **out);

/* GET /api/email/log?execution_id=&before=&limit=: {"items": [...]},
 * newest first. */
unsigned api_email_log_list(store *s, int64_t org_id, int64_t execution_id, int64_t before_id,
                            int limit, json_t **out);

/* The error body {"error": {"code", "message"}} and its status. */
unsigned api_error_body(unsigned status, const char *code, const char *message, json_t **out);

#endif
