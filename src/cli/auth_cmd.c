/*
 * auth_cmd.c — `cronflow token create` and `cronflow user create`: API
 * tokens for scripts and users for the UI, written to the store directly
 * (they need the database file), so that a fresh install can be driven
 * before anybody has signed in.
 *
 * token create prints the token on the last line of stdout, once; it is
 * never stored (only its hash). user create makes the organization when
 * it does not exist yet.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "cli/cli.h"

static const char token_usage[] =
    "usage: cronflow token create [--db PATH] [--org NAME] [--role admin|editor|viewer]\n"
    "                             [--name NAME]\n";
static const char user_usage[] =
    "usage: cronflow user create [--db PATH] --email E --password P [--org NAME]\n"
    "                            [--role admin|editor|viewer] [--name NAME]\n";

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct opts {
  const char *db, *org, *role, *name, *email, *password;
} opts;

/* Reads "--key value" pairs after the verb; 0, or the exit status. */
static int read_opts(int argc, char **argv, opts *o, const char *usage) {
  for (int i = 0; i < argc; i += 2) {
    const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    const char **slot = strcmp(k, "--db") == 0         ? &o->db
                        : strcmp(k, "--org") == 0      ? &o->org
                        : strcmp(k, "--role") == 0     ? &o->role
                        : strcmp(k, "--name") == 0     ? &o->name
                        : strcmp(k, "--email") == 0    ? &o->email
                        : strcmp(k, "--password") == 0 ? &o->password
                                                       : NULL;
    if (strcmp(k, "--help") == 0) {
      fputs(usage, stdout);
      return -1;
    }
    if (!slot || !v) {
      fprintf(stderr, "cronflow: unexpected argument '%s'\n%s", k, usage);
      return 2;
    }
    *slot = v;
  }
  return 0;
}

/* Opens the store, checks the role, finds (or makes) the organization. */
static int prepare(const opts *o, bool create_org, store **s, store_role *role, int64_t *org) {
  if (!store_role_parse(o->role, role)) {
    fprintf(stderr, "cronflow: --role must be admin, editor or viewer, not '%s'\n", o->role);
    return 2;
  }
  if (api_init() != CF_OK) {
    fprintf(stderr, "cronflow: libsodium cannot start\n");
    return 1;
  }
  int rc = cli_open_store(o->db, true, s);
  if (rc)
    return rc;
  bool created;
  cf_err err = store_org_find(*s, o->org, create_org, now_ms(), org, &created);
  if (err) {
    fprintf(stderr, "cronflow: organization '%s': %s%s\n", o->org, cf_strerror(err),
            err == CF_E_NOT_FOUND ? " (cronflow user create makes one)" : "");
    store_close(*s);
    return 1;
  }
  if (created)
    fprintf(stderr, "cronflow: created organization '%s'\n", o->org);
  return 0;
}

int cli_token(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "create") != 0) {
    fputs(token_usage, argc >= 1 && strcmp(argv[0], "--help") == 0 ? stdout : stderr);
    return argc >= 1 && strcmp(argv[0], "--help") == 0 ? 0 : 2;
  }
  opts o = {"data/cronflow.db", "default", "admin", "cli", NULL, NULL};
  int rc = read_opts(argc - 1, argv + 1, &o, token_usage);
  if (rc)
    return rc < 0 ? 0 : rc;
  if (o.email || o.password) {
    fprintf(stderr, "cronflow: token create takes no --email or --password\n%s", token_usage);
    return 2;
  }
  store *s;
  store_role role;
  int64_t org;
  if ((rc = prepare(&o, false, &s, &role, &org)) != 0)
    return rc;
  char token[API_TOKEN_LEN], prefix[16];
  unsigned char hash[STORE_HASH_BYTES];
  api_token_generate(token, sizeof token, hash, prefix);
  store_token_new t = {.org_id = org, .name = o.name, .prefix = prefix, .hash = hash, .role = role};
  int64_t id;
  cf_err err = store_token_create(s, &t, now_ms(), &id);
  store_close(s);
  if (err) {
    fprintf(stderr, "cronflow: cannot create the token: %s\n", cf_strerror(err));
    return 1;
  }
  printf("token %lld '%s' (%s) for organization '%s'; shown once:\n%s\n", (long long)id, o.name,
         store_role_name(role), o.org, token);
  return 0;
}

int cli_user(int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "create") != 0) {
    fputs(user_usage, argc >= 1 && strcmp(argv[0], "--help") == 0 ? stdout : stderr);
    return argc >= 1 && strcmp(argv[0], "--help") == 0 ? 0 : 2;
  }
  opts o = {"data/cronflow.db", "default", "editor", "", NULL, NULL};
  int rc = read_opts(argc - 1, argv + 1, &o, user_usage);
  if (rc)
    return rc < 0 ? 0 : rc;
  if (!o.email || !o.password || !strchr(o.email, '@')) {
    fprintf(stderr, "cronflow: --email (an address) and --password are required\n%s", user_usage);
    return 2;
  }
  if (strlen(o.password) < 8) {
    fprintf(stderr, "cronflow: --password must have at least 8 characters\n");
    return 2;
  }
  store *s;
  store_role role;
  int64_t org;
  if ((rc = prepare(&o, true, &s, &role, &org)) != 0)
    return rc;
  char hash[128];
  int64_t id = 0;
  cf_err err = api_password_hash(o.password, hash, sizeof hash);
  if (!err)
    err = store_user_create(s, org, o.email, o.name, hash, role, now_ms(), &id);
  store_close(s);
  if (err) {
    fprintf(stderr, "cronflow: cannot create the user: %s\n",
            err == CF_E_CONFLICT ? "a user with this e-mail address exists" : cf_strerror(err));
    return 1;
  }
  printf("user %lld %s (%s) in organization '%s'\n", (long long)id, o.email, store_role_name(role),
         o.org);
  return 0;
}
