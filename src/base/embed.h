/*
 * embed.h — files compiled into the binary by scripts/embed (the web UI,
 * the SQL migrations, the OpenAPI document). The data is NUL-terminated; len excludes the NUL.
 */
#ifndef CF_BASE_EMBED_H
#define CF_BASE_EMBED_H

#include <stddef.h>

typedef struct embedded_file {
  const char *name;
  const unsigned char *data;
  size_t len;
} embedded_file;

/* Generated tables. */
extern const embedded_file web_files[];
extern const size_t web_files_count;
extern const embedded_file sqlite_migrations[];
extern const size_t sqlite_migrations_count;
extern const embedded_file api_docs[]; /* src/api/openapi.json */
extern const size_t api_docs_count;

#endif
