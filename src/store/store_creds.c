/*
 * store_creds.c — credentials sealed under the master key, and the
 * e-mail templates and log, forwarded to the backend.
 *
 * Sealing happens here, above the backends: a backend stores a random
 * nonce and a secretbox ciphertext and never sees plaintext. The master
 * key lives in libsodium's guarded memory (sodium_malloc: no swap, guard
 * pages) and is wiped at store_close. Decrypted data is handed out only by
 * store_credential_open_all and wiped by store_credentials_free.
 *
 * Never: put a key or a decrypted value into an error message or a log.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_int.h"

#define KEY_TEXT_MAX 256
#define DATA_MAX     (64 * 1024) /* bytes of one credential's JSON data */

_Static_assert(STORE_KEY_BYTES == crypto_secretbox_KEYBYTES, "key size");
_Static_assert(STORE_NONCE_BYTES == crypto_secretbox_NONCEBYTES, "nonce size");

static bool sodium_ready(void) {
  return sodium_init() >= 0;
}

static int64_t org_or_default(int64_t org_id) {
  return org_id > 0 ? org_id : 1;
}

/* Decodes base64 text (standard alphabet, padding optional, white space
 * around it ignored) into exactly 32 bytes. */
static bool decode_key(const char *text, unsigned char key[STORE_KEY_BYTES]) {
  size_t n = strlen(text);
  while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
    n--;
  size_t got = 0;
  if (sodium_base642bin(key, STORE_KEY_BYTES, text, n, " \t\r\n", &got, NULL,
                        sodium_base64_VARIANT_ORIGINAL) == 0 &&
      got == STORE_KEY_BYTES)
    return true;
  if (sodium_base642bin(key, STORE_KEY_BYTES, text, n, " \t\r\n", &got, NULL,
                        sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0 &&
      got == STORE_KEY_BYTES)
    return true;
  sodium_memzero(key, STORE_KEY_BYTES);
  return false;
}

void store_master_key_random(unsigned char key[STORE_KEY_BYTES]) {
  if (!sodium_ready())
    abort(); /* no randomness: nothing can be sealed safely */
  randombytes_buf(key, STORE_KEY_BYTES);
}

/* Creates the key file: O_EXCL, so two processes starting at once agree
 * on one key (the loser reads the winner's). */
static cf_err create_key_file(const char *path, char *err, size_t cap) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno == EEXIST
               ? CF_OK
               : (snprintf(err, cap, "cannot create the key file %s: %s", path, strerror(errno)),
                  CF_E_IO);
  unsigned char key[STORE_KEY_BYTES];
  char text[sodium_base64_ENCODED_LEN(STORE_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1];
  store_master_key_random(key);
  sodium_bin2base64(text, sizeof text - 1, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
  size_t n = strlen(text);
  text[n++] = '\n';
  bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
  sodium_memzero(key, sizeof key);
  sodium_memzero(text, sizeof text);
  close(fd);
  if (!ok) {
    unlink(path);
    snprintf(err, cap, "cannot write the key file %s", path);
    return CF_E_IO;
  }
  return CF_OK;
}

cf_err store_master_key_load(const char *path, unsigned char key[STORE_KEY_BYTES], char *err,
                             size_t cap) {
  if (!sodium_ready()) {
    snprintf(err, cap, "libsodium cannot start");
    return CF_E_KEY;
  }
  const char *env = getenv("CRONFLOW_MASTER_KEY");
  if (env && env[0]) {
    if (decode_key(env, key))
      return CF_OK;
    snprintf(err, cap, "CRONFLOW_MASTER_KEY must be the base64 of 32 bytes");
    return CF_E_KEY;
  }
  if (!path || !path[0]) {
    snprintf(err, cap, "no master key: set CRONFLOW_MASTER_KEY or name a key file");
    return CF_E_KEY;
  }
  cf_err rc = create_key_file(path, err, cap);
  if (rc)
    return rc;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, cap, "cannot read the key file %s: %s", path, strerror(errno));
    return CF_E_IO;
  }
  struct stat sb;
  if (fstat(fd, &sb) == 0 && (sb.st_mode & 077)) {
    close(fd);
    snprintf(err, cap, "the key file %s must not be readable by others (chmod 600)", path);
    return CF_E_KEY;
  }
  char text[KEY_TEXT_MAX];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n < 0) {
    snprintf(err, cap, "cannot read the key file %s", path);
    return CF_E_IO;
  }
  text[n] = '\0';
  bool ok = decode_key(text, key);
  sodium_memzero(text, sizeof text);
  if (!ok) {
    snprintf(err, cap, "the key file %s does not hold the base64 of 32 bytes", path);
    return CF_E_KEY;
  }
  return CF_OK;
}

void store_set_master_key(store *s, const unsigned char key[STORE_KEY_BYTES]) {
  if (!sodium_ready())
    return;
  if (!s->key)
    s->key = sodium_malloc(STORE_KEY_BYTES);
  if (s->key)
    memcpy(s->key, key, STORE_KEY_BYTES);
}

void store_forget_key(store *s) {
  sodium_free(s->key); /* wipes it */
  s->key = NULL;
}

/* The names of an object's members as a JSON array text; NULL when the
 * text is not a JSON object. */
static char *field_names(const char *data) {
  json_t *obj = json_loads(data, 0, NULL);
  if (!json_is_object(obj)) {
    json_decref(obj);
    return NULL;
  }
  json_t *names = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    if (!json_is_null(v))
      json_array_append_new(names, json_string(k));
  }
  char *text = json_dumps(names, JSON_COMPACT);
  json_decref(names);
  /* The parsed copy held the secrets: wipe its strings before freeing. */
  json_object_foreach(obj, k, v) {
    if (json_is_string(v))
      sodium_memzero((char *)json_string_value(v), json_string_length(v));
  }
  json_decref(obj);
  return text;
}

static cf_err seal(store *s, const char *data, store_cred_row *row, unsigned char *nonce) {
  if (!s->key)
    return CF_E_KEY;
  size_t n = strlen(data);
  if (n > DATA_MAX)
    return CF_E_TOO_LARGE;
  row->fields = field_names(data);
  if (!row->fields)
    return CF_E_INVALID;
  row->sealed_len = n + crypto_secretbox_MACBYTES;
  row->sealed = malloc(row->sealed_len);
  if (!row->sealed) {
    free(row->fields);
    return CF_E_NOMEM;
  }
  randombytes_buf(nonce, STORE_NONCE_BYTES);
  row->nonce = nonce;
  crypto_secretbox_easy(row->sealed, (const unsigned char *)data, n, nonce, s->key);
  return CF_OK;
}

static cf_err put(store *s, int64_t org_id, const char *name, const char *type, const char *data,
                  bool create, int read_only, int64_t now) {
  if (!name || !name[0] || !data)
    return CF_E_INVALID;
  unsigned char nonce[STORE_NONCE_BYTES];
  store_cred_row row = {.name = (char *)name, .type = (char *)type, .read_only = read_only == 1};
  cf_err rc = seal(s, data, &row, nonce);
  if (rc)
    return rc;
  rc = s->backend->cred_put(s->impl, org_or_default(org_id), &row, create, read_only, now);
  free(row.fields);
  free(row.sealed);
  return rc;
}

cf_err store_credential_create(store *s, int64_t org_id, const char *name, const char *type,
                               const char *data, bool read_only, int64_t now) {
  if (!type)
    return CF_E_INVALID;
  return put(s, org_id, name, type, data, true, read_only ? 1 : 0, now);
}

cf_err store_credential_rotate(store *s, int64_t org_id, const char *name, const char *data,
                               int read_only, int64_t now) {
  return put(s, org_id, name, NULL, data, false, read_only, now);
}

cf_err store_credential_delete(store *s, int64_t org_id, const char *name) {
  return s->backend->cred_delete(s->impl, org_or_default(org_id), name);
}

void store_cred_rows_free(store_cred_row *rows, size_t count) {
  for (size_t i = 0; rows && i < count; i++) {
    free(rows[i].name);
    free(rows[i].type);
    free(rows[i].fields);
    free(rows[i].nonce);
    free(rows[i].sealed);
  }
  free(rows);
}

void store_credential_clear(store_credential *c) {
  if (!c)
    return;
  free(c->name);
  free(c->type);
  free(c->fields);
  if (c->data) {
    sodium_memzero(c->data, strlen(c->data));
    free(c->data);
  }
  memset(c, 0, sizeof *c);
}

void store_credentials_free(store_credential *items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    store_credential_clear(&items[i]);
  free(items);
}

/* Opens one sealed row into c->data. */
static cf_err unseal(const store *s, const store_cred_row *row, store_credential *c) {
  if (!s->key || row->sealed_len < crypto_secretbox_MACBYTES)
    return CF_E_KEY;
  size_t n = row->sealed_len - crypto_secretbox_MACBYTES;
  c->data = malloc(n + 1);
  if (!c->data)
    return CF_E_NOMEM;
  if (crypto_secretbox_open_easy((unsigned char *)c->data, row->sealed, row->sealed_len, row->nonce,
                                 s->key) != 0) {
    free(c->data);
    c->data = NULL;
    return CF_E_KEY;
  }
  c->data[n] = '\0';
  return CF_OK;
}

/* Lists rows (one name, or all) as credentials, unsealed or not. */
static cf_err list(store *s, int64_t org_id, const char *name, bool open, store_credential **out,
                   size_t *count) {
  *out = NULL;
  *count = 0;
  store_cred_row *rows = NULL;
  size_t n = 0;
  cf_err rc = s->backend->cred_list(s->impl, org_or_default(org_id), name, &rows, &n);
  if (rc)
    return rc;
  store_credential *items = n ? calloc(n, sizeof *items) : NULL;
  if (n && !items)
    rc = CF_E_NOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    store_credential *c = &items[i];
    /* The row's strings move to the credential. */
    c->name = rows[i].name;
    c->type = rows[i].type;
    c->fields = rows[i].fields;
    rows[i].name = rows[i].type = rows[i].fields = NULL;
    c->read_only = rows[i].read_only;
    c->created_at = rows[i].created_at;
    c->updated_at = rows[i].updated_at;
    if (open)
      rc = unseal(s, &rows[i], c);
  }
  store_cred_rows_free(rows, n);
  if (rc) {
    store_credentials_free(items, n);
    return rc;
  }
  *out = items;
  *count = n;
  return CF_OK;
}

cf_err store_credential_list(store *s, int64_t org_id, store_credential **out, size_t *count) {
  return list(s, org_id, NULL, false, out, count);
}

cf_err store_credential_get(store *s, int64_t org_id, const char *name, store_credential *out) {
  memset(out, 0, sizeof *out);
  store_credential *items;
  size_t n;
  cf_err rc = list(s, org_id, name, false, &items, &n);
  if (rc)
    return rc;
  if (n == 0)
    return CF_E_NOT_FOUND;
  *out = items[0];
  memset(&items[0], 0, sizeof items[0]);
  store_credentials_free(items, n);
  return CF_OK;
}

cf_err store_credential_open_all(store *s, int64_t org_id, store_credential **out, size_t *count) {
  return list(s, org_id, NULL, true, out, count);
}

/* ------------------------------------------------------------ e-mail */

cf_err store_email_template_put(store *s, int64_t org_id, bool create,
                                const store_email_template *t, int64_t now) {
  if (!t->name || !t->name[0])
    return CF_E_INVALID;
  return s->backend->email_template_put(s->impl, org_or_default(org_id), create, t, now);
}

cf_err store_email_template_get(store *s, int64_t org_id, const char *name,
                                store_email_template *out) {
  memset(out, 0, sizeof *out);
  store_email_template *items;
  size_t n;
  if (!name)
    return CF_E_INVALID;
  cf_err rc = s->backend->email_template_list(s->impl, org_or_default(org_id), name, &items, &n);
  if (rc)
    return rc;
  if (n == 0)
    return CF_E_NOT_FOUND;
  *out = items[0];
  memset(&items[0], 0, sizeof items[0]);
  store_email_templates_free(items, n);
  return CF_OK;
}

cf_err store_email_template_list(store *s, int64_t org_id, store_email_template **out,
                                 size_t *count) {
  return s->backend->email_template_list(s->impl, org_or_default(org_id), NULL, out, count);
}

cf_err store_email_template_delete(store *s, int64_t org_id, const char *name) {
  return s->backend->email_template_delete(s->impl, org_or_default(org_id), name);
}

void store_email_template_clear(store_email_template *t) {
  if (!t)
    return;
  free(t->name);
  free(t->subject);
  free(t->text);
  free(t->html);
  memset(t, 0, sizeof *t);
}

void store_email_templates_free(store_email_template *items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    store_email_template_clear(&items[i]);
  free(items);
}

cf_err store_email_log_add_async(store *s, const store_email_log *e, store_done_fn done,
                                 void *ctx) {
  store_email_log copy = *e;
  copy.org_id = org_or_default(e->org_id);
  return s->backend->email_log_add_async(s->impl, &copy, done, ctx);
}

cf_err store_email_log_list(store *s, int64_t org_id, int64_t execution_id, int64_t before_id,
                            int limit, store_email_log **out, size_t *count) {
  if (limit < 1 || limit > 1000)
    return CF_E_INVALID;
  return s->backend->email_log_list(s->impl, org_or_default(org_id), execution_id, before_id, limit,
                                    out, count);
}

void store_email_logs_free(store_email_log *items, size_t count) {
  for (size_t i = 0; items && i < count; i++) {
    store_email_log *e = &items[i];
    free(e->node_id);
    free(e->status);
    free(e->sender);
    free(e->recipients);
    free(e->subject);
    free(e->message_id);
    free(e->smtp_response);
    free(e->error);
  }
  free(items);
}
