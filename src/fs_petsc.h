/*
 * fs_petsc.h - PETSc/SLEPc calls checked through the flagscope error type.
 *
 * flagscope pushes PetscReturnErrorHandler at start-up (fs_petsc_init), so a
 * failing PETSc call returns its code instead of printing pages of
 * configuration; FS_PETSC turns that code into one line in an fs_error:
 * "SVDSolve failed: <PETSc's reason> (fs_spectrum.c:123)".
 */
#ifndef FS_PETSC_H
#define FS_PETSC_H

#include <slepcsys.h>

#include "fs_error.h"

/* SlepcInitialize with the given PETSc options, then the returning handler. */
int fs_petsc_init(int *argc, char ***argv, fs_error *err);
int fs_petsc_finalize(void);

int fs_petsc_fail(fs_error *err, PetscErrorCode code, const char *call,
                  const char *file, int line);

#define FS_PETSC(err, call)                                                    \
  do {                                                                         \
    PetscErrorCode fs_ierr_ = (call);                                          \
    if (fs_ierr_)                                                              \
      return fs_petsc_fail((err), fs_ierr_, #call, __FILE__, __LINE__);        \
  } while (0)

#endif
