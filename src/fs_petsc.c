/* fs_petsc.c - PETSc/SLEPc start-up and error translation (see fs_petsc.h). */
#include "fs_petsc.h"

#include <stdio.h>
#include <string.h>

int fs_petsc_init(int *argc, char ***argv, fs_error *err) {
  PetscErrorCode ierr = SlepcInitialize(argc, argv, NULL, NULL);
  if (ierr) return fs_fail(err, "SlepcInitialize failed (PETSc error %d)", (int)ierr);
  ierr = PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
  if (ierr) return fs_fail(err, "PetscPushErrorHandler failed (PETSc error %d)", (int)ierr);
  return 0;
}

int fs_petsc_finalize(void) {
  PetscPopErrorHandler();
  return SlepcFinalize() ? FS_ERR : 0;
}

int fs_petsc_fail(fs_error *err, PetscErrorCode code, const char *call,
                  const char *file, int line) {
  const char *generic = NULL;
  char *specific = NULL;
  PetscErrorMessage((int)code, &generic, &specific);
  /* Keep only the called function's name: "SVDSolve(svd)" -> "SVDSolve". */
  char name[64];
  size_t n = strcspn(call, "(");
  if (n >= sizeof name) n = sizeof name - 1;
  memcpy(name, call, n);
  name[n] = '\0';
  const char *base = strrchr(file, '/');
  return fs_fail(err, "%s failed: %s%s%s (%s:%d)", name,
                 generic ? generic : "PETSc error",
                 specific && *specific ? ": " : "", specific ? specific : "",
                 base ? base + 1 : file, line);
}
