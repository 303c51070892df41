/*
 * temp_dir.c — private temporary directories for the commands that run on
 * a database of their own (`run`, the benchmarks).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_make_temp_dir(const char *prefix, char *out, size_t cap) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !tmp[0] || strlen(tmp) > 200)
    tmp = "/tmp";
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned seed = (unsigned)ts.tv_nsec ^ (unsigned)getpid() * 2654435761u;
  /* mkdir refuses a name that exists, so a clash only costs a retry. */
  for (int attempt = 0; attempt < 100; attempt++) {
    seed = seed * 1103515245u + 12345u;
    int n = snprintf(out, cap, "%s/%s-%d-%08x", tmp, prefix, (int)getpid(), seed);
    if (n < 0 || (size_t)n >= cap) {
      errno = ENAMETOOLONG;
      return -1;
    }
    if (mkdir(out, 0700) == 0)
      return 0;
    if (errno != EEXIST)
      return -1;
  }
  errno = EEXIST;
  return -1;
}
