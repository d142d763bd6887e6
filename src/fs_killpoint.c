/* fs_killpoint.c - crash points for tests (see fs_killpoint.h). */
#include "fs_killpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fs_killpoint(const char *stage, int rank) {
  static int count;
  const char *spec = getenv("FLAGSCOPE_KILL_AT");
  if (!spec || !*spec) return;
  const char *r = getenv("FLAGSCOPE_KILL_RANK");
  if (rank != (r && *r ? atoi(r) : 0)) return;
  size_t n = strcspn(spec, "@:");
  if (strlen(stage) != n || strncmp(spec, stage, n)) return;
  int want = spec[n] == '@' ? atoi(spec + n + 1) : 1;
  if (++count != want) return; /* one stage is named per process: one counter */
  const char *sig = strchr(spec, ':');
  if (sig && !strcmp(sig + 1, "PAUSE")) { /* a window for a test to signal mpirun */
    fprintf(stderr, "flagscope: test hook: pausing 3 s at %s #%d on rank %d\n", stage, want, rank);
    fflush(stderr);
    sleep(3);
    return;
  }
  int s = !sig ? SIGKILL : !strcmp(sig + 1, "TERM") ? SIGTERM : !strcmp(sig + 1, "USR1") ? SIGUSR1 : SIGKILL;
  fprintf(stderr, "flagscope: test hook: signal %d at %s #%d on rank %d\n", s, stage, want, rank);
  fflush(stderr);
  raise(s);
}
