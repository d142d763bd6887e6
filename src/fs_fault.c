/* fs_fault.c - fault injection from FLAGSCOPE_FAULT (see fs_fault.h). */
#include "fs_fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_error.h"

#define MAX_RULES 16

typedef struct rule {
  fs_fault_stage stage;
  int rank, model, kill; /* rank, model: -1 = any */
} rule;

static rule rules[MAX_RULES];
static int nrules, my_rank;

static const char *names[FS_FAULT_NSTAGES] = {"open",  "read",  "spectra", "exchange",
                                              "pairs", "heads", "reduce",  "write"};

const char *fs_fault_stage_name(fs_fault_stage stage) {
  return stage >= 0 && stage < FS_FAULT_NSTAGES ? names[stage] : "?";
}

/* One rule "STAGE[@RANK][/MODEL][!kill]"; 0 on success. */
static int parse_rule(const char *s, size_t n, rule *r) {
  char buf[64];
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  *r = (rule){FS_FAULT_NSTAGES, -1, -1, 0};
  char *bang = strchr(buf, '!');
  if (bang) {
    if (strcmp(bang, "!kill")) return -1;
    r->kill = 1, *bang = '\0';
  }
  char *slash = strchr(buf, '/'), *at = strchr(buf, '@'), *end;
  if (slash) {
    r->model = (int)strtol(slash + 1, &end, 10);
    if (end == slash + 1 || *end || r->model < 0) return -1;
    *slash = '\0';
  }
  if (at) {
    r->rank = (int)strtol(at + 1, &end, 10);
    if (end == at + 1 || *end || r->rank < 0) return -1;
    *at = '\0';
  }
  for (int i = 0; i < FS_FAULT_NSTAGES; i++)
    if (!strcmp(buf, names[i])) r->stage = (fs_fault_stage)i;
  return r->stage == FS_FAULT_NSTAGES ? -1 : 0;
}

int fs_fault_init(int rank) {
  my_rank = rank, nrules = 0;
  const char *spec = getenv("FLAGSCOPE_FAULT");
  if (!spec || !*spec) return 0;
  for (const char *p = spec; *p;) {
    size_t n = strcspn(p, ",");
    if (nrules == MAX_RULES || parse_rule(p, n, &rules[nrules])) {
      if (rank == 0)
        fprintf(stderr, "flagscope: FLAGSCOPE_FAULT='%s': cannot parse '%.*s' "
                "(STAGE[@RANK][/MODEL][!kill], at most %d rules); no fault injected\n",
                spec, (int)n, p, MAX_RULES);
      nrules = 0;
      return FS_ERR;
    }
    nrules++;
    p += n + (p[n] == ',');
  }
  return 0;
}

int fs_fault_hit(fs_fault_stage stage, int model) {
  for (int i = 0; i < nrules; i++) {
    const rule *r = &rules[i];
    if (r->stage != stage || (r->rank >= 0 && r->rank != my_rank) ||
        (r->model >= 0 && model >= 0 && r->model != model))
      continue;
    if (r->kill) raise(SIGKILL);
    return 1;
  }
  return 0;
}
