/*
 * error.h — the one error type of cronflow.
 *
 * Every fallible function returns a cf_err; results travel through
 * out-parameters. Names and messages come from one X-macro table so they can
 * never drift apart (the libuv UV_ERRNO_MAP pattern). The message is a short
 * generic text; functions that can say more (the cron parser names the field
 * and column) fill a detail buffer of their own alongside the code.
 */
#ifndef CF_BASE_ERROR_H
#define CF_BASE_ERROR_H

#define CF_ERROR_MAP(X)                                                                            \
  X(OK, "success")                                                                                 \
  X(NOMEM, "out of memory")                                                                        \
  X(INVALID, "invalid argument")                                                                   \
  X(TOO_LARGE, "input is larger than the limit")                                                   \
  X(IO, "input/output error")                                                                      \
  X(NOT_FOUND, "not found")                                                                        \
  X(TZ_UNKNOWN, "unknown time zone")                                                               \
  X(TZ_CORRUPT, "time zone data is corrupt")                                                       \
  X(TIME_SYNTAX, "invalid date-time")                                                              \
  X(TIME_RANGE, "date-time is outside years 1 to 9999")                                            \
  X(CRON_SYNTAX, "invalid cron expression")                                                        \
  X(CRON_NEVER, "the cron expression never fires")                                                 \
  X(CRON_EXHAUSTED, "the cron expression never fires again before year 10000")                     \
  X(STORE, "database error")                                                                       \
  X(STORE_BUSY, "the database is locked by another process")                                       \
  X(STORE_READONLY, "the database file is read-only")                                              \
  X(STORE_FULL, "the disk or database is full")                                                    \
  X(STORE_CORRUPT, "the database file is damaged or not a cronflow database")                      \
  X(STORE_CANTOPEN, "the database file cannot be opened")                                          \
  X(STORE_TOO_NEW, "the database was written by a newer cronflow")                                 \
  X(STORE_CLOSED, "the store is shutting down")                                                    \
  X(CONFLICT, "the record changed or already exists")                                              \
  X(LEASE_LOST, "the lease was lost to another worker")                                            \
  X(CANCELLED, "the execution was cancelled")                                                      \
  X(TIMED_OUT, "timed out")                                                                        \
  X(KEY, "the master key is missing or is not the one the credentials were saved with")

typedef enum {
#define CF_ERROR_ENUM(name, text) CF_E_##name,
  CF_ERROR_MAP(CF_ERROR_ENUM)
#undef CF_ERROR_ENUM
      CF_E__COUNT
} cf_err;

#define CF_OK CF_E_OK

/* The message for an error code; never NULL, static storage, thread-safe. */
const char *cf_strerror(cf_err err);

/* The symbolic name ("CRON_SYNTAX") of an error code; never NULL. */
const char *cf_errname(cf_err err);

#define CF_MUST_CHECK __attribute__((warn_unused_result))

#endif
