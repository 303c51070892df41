/*
 * replay_main.c — runs a fuzz target over saved inputs, without libFuzzer,
 * so that the corpus is replayed by `make test` under gcc's sanitizers
 * (SQLite's fuzzcheck idea).
 *
 *   replay_<name> [-v] PATH...
 *
 * Each PATH is an input file or a directory whose regular files (not its
 * subdirectories, not dot-files) are inputs, replayed in name order. The
 * last line is "SUMMARY: N passed, M failed"; a file that cannot be read
 * counts as failed. A defect in the target aborts the process, so a crash
 * fails the run; the input being replayed is named on stderr first.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* libFuzzer's -max_len in `make fuzz` is 4 KB; zone files run to a few
 * hundred KB. Anything larger is not an input of ours. */
#define INPUT_MAX (1024 * 1024)

static const char *current_input;

/* On abort (our CHECKs, and the sanitizers with abort_on_error=1), say
 * which input did it, then die as before. Only async-signal-safe calls. */
static void on_abort(int sig) {
  static const char msg[] = "replay: crashed on input ";
  if (current_input) {
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    ignored = write(STDERR_FILENO, current_input, strlen(current_input));
    ignored = write(STDERR_FILENO, "\n", 1);
    (void)ignored;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

typedef struct totals {
  unsigned long passed, failed;
  int verbose;
} totals;

/* Reads at most INPUT_MAX bytes; NULL with errno set on failure. */
static unsigned char *read_input(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *buf = malloc(INPUT_MAX + 1);
  if (!buf) {
    fclose(f);
    errno = ENOMEM;
    return NULL;
  }
  size_t n = fread(buf, 1, INPUT_MAX + 1, f);
  int failed = ferror(f);
  fclose(f);
  if (failed || n > INPUT_MAX) {
    free(buf);
    errno = failed ? EIO : EFBIG;
    return NULL;
  }
  *len = n;
  return buf;
}

static void replay_file(const char *path, totals *t) {
  size_t len = 0;
  unsigned char *data = read_input(path, &len);
  if (!data) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    t->failed++;
    return;
  }
  if (t->verbose)
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
  current_input = path;
  /* An exact-size copy, so that ASan catches reads past the input. */
  unsigned char *exact = malloc(len ? len : 1);
  if (!exact) {
    fprintf(stderr, "replay: %s: out of memory\n", path);
    t->failed++;
    free(data);
    return;
  }
  memcpy(exact, data, len);
  free(data);
  (void)LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  current_input = NULL;
  t->passed++;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_dir(const char *dir, totals *t) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    t->failed++;
    return;
  }
  char **paths = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    size_t need = strlen(dir) + strlen(de->d_name) + 2;
    char *path = malloc(need);
    if (!path)
      break;
    snprintf(path, need, "%s/%s", dir, de->d_name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
      free(path);
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      char **grown = realloc(paths, cap * sizeof *grown);
      if (!grown) {
        free(path);
        break;
      }
      paths = grown;
    }
    paths[n++] = path;
  }
  closedir(d);
  if (n)
    qsort(paths, n, sizeof *paths, compare_names);
  for (size_t i = 0; i < n; i++) {
    replay_file(paths[i], t);
    free(paths[i]);
  }
  free(paths);
}

int main(int argc, char **argv) {
  totals t = {0, 0, 0};
  signal(SIGABRT, on_abort);
  int inputs = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      t.verbose = 1;
      continue;
    }
    inputs++;
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
      replay_dir(argv[i], &t);
    else
      replay_file(argv[i], &t);
  }
  if (inputs == 0) {
    fprintf(stderr, "usage: %s [-v] FILE-OR-DIRECTORY...\n", argv[0]);
    return 2;
  }
  printf("SUMMARY: %lu passed, %lu failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
