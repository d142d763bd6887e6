/*
 * fs_fault.h - deterministic fault injection, for the tests that prove a
 * failure on one rank is agreed by all and loses nothing (issue 10).
 *
 * Off unless the environment sets FLAGSCOPE_FAULT, a comma-separated list of
 *     STAGE[@RANK][/MODEL][!kill]
 * STAGE is one of open, read, spectra, exchange, pairs, heads, reduce, write; RANK
 * (default: every rank) and MODEL (the model's index in the run, default:
 * every model) narrow it (MODEL is ignored at the points that serve every
 * model at once: exchange, reduce, write).  At a matching point the stage fails as if its
 * resource had (a header that this rank cannot read, an unreadable tensor, a
 * solver or allocation failure); with "!kill" the process instead raises
 * SIGKILL there, for the kill-and-restart tests.  Example:
 *     FLAGSCOPE_FAULT=spectra@1/0,write@2
 * An unparsable specification is reported once on stderr and ignored, so a
 * typo cannot pass for a test of nothing: fs_fault_init returns FS_ERR.
 */
#ifndef FS_FAULT_H
#define FS_FAULT_H

typedef enum {
  FS_FAULT_OPEN,
  FS_FAULT_READ,
  FS_FAULT_SPECTRA,
  FS_FAULT_EXCHANGE,
  FS_FAULT_PAIRS,
  FS_FAULT_HEADS,
  FS_FAULT_REDUCE,
  FS_FAULT_WRITE,
  FS_FAULT_NSTAGES
} fs_fault_stage;

/* Reads FLAGSCOPE_FAULT for this rank; 0 when unset or valid. */
int fs_fault_init(int rank);

/* 1 if the stage must fail here for this model (-1: not model-specific);
 * does not return when the matching rule says "!kill". */
int fs_fault_hit(fs_fault_stage stage, int model);

const char *fs_fault_stage_name(fs_fault_stage stage);

#endif
