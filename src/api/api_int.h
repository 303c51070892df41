/*
 * api_int.h — what route handlers share with the server core (internal to
 * api/).
 */
#ifndef CF_API_API_INT_H
#define CF_API_API_INT_H

#include <jansson.h>
#include <stddef.h>

#include "api/api.h"
#include "base/embed.h"

typedef struct api_request {
  const char *method;
  const char *path;
  const char *body; /* NUL-terminated; "" when there is none */
  size_t body_len;
  const api_config *cfg;
} api_request;

typedef struct api_response {
  unsigned status;
  const char *content_type;
  /* Either json (owned, serialized by the core) or a static body. */
  json_t *json;
  const void *body;
  size_t body_len;
  const char *cache_control;
} api_response;

typedef void (*api_handler)(const api_request *req, api_response *res);

typedef struct api_route {
  const char *method;
  const char *path;
  api_handler handler;
} api_route;

/* Sets an error response: {"error": {"code": code, "message": message}}. */
void api_error(api_response *res, unsigned status, const char *code, const char *message);

/* Parses the body as a JSON object; on failure sets a 400 response and
 * returns NULL. The caller owns the result. */
json_t *api_body_object(const api_request *req, api_response *res);

/* The route tables of each area, ended by a zeroed entry. */
extern const api_route api_util_routes[];

#endif
