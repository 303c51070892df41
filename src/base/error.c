/*
 * error.c — messages and names for cf_err, generated from CF_ERROR_MAP.
 */
#include "base/error.h"

static const char *const messages[] = {
#define CF_ERROR_TEXT(name, text) [CF_E_##name] = text,
    CF_ERROR_MAP(CF_ERROR_TEXT)
#undef CF_ERROR_TEXT
};

static const char *const names[] = {
#define CF_ERROR_NAME(name, text) [CF_E_##name] = #name,
    CF_ERROR_MAP(CF_ERROR_NAME)
#undef CF_ERROR_NAME
};

const char *cf_strerror(cf_err err) {
  if ((unsigned)err >= CF_E__COUNT)
    return "unknown error";
  return messages[err];
}

const char *cf_errname(cf_err err) {
  if ((unsigned)err >= CF_E__COUNT)
    return "UNKNOWN";
  return names[err];
}
