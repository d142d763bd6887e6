/*
 * fs_tf_layout.c - TensorFlow/Keras kernel layouts, shared by the TF.js and
 * Keras readers (see fs_reader.h).
 *
 * TF stores a dense kernel as [in, out] and a convolution kernel as
 * [k..., in, out] (kh, kw, c_in, c_out for 2-D); flagscope presents [out, in]
 * and [out, in, k...].  A 2-D kernel only needs in_out; an N-D one is
 * permuted when its bytes are read.  Embedding tables, already [vocab, dim],
 * are left alone.
 */
#include <string.h>

#include "fs_reader.h"

int fs_tf_dims_fit(const int64_t *shape, int nd) {
  uint64_t p = 1;
  for (int i = 0; i < nd; i++)
    if (fs_mul_u64(p, shape[i] ? (uint64_t)shape[i] : 1, &p) || p > (uint64_t)INT64_MAX)
      return 0;
  return 1;
}

void fs_tf_orient(const char *name, fs_tensor *t, fs_tf_kernel *k) {
  size_t nl = strlen(name);
  int embed = nl >= 10 && strcmp(name + nl - 10, "embeddings") == 0;
  memset(k, 0, sizeof *k);
  if (t->ndim == 2 && !embed) {
    int64_t r = t->shape[0];
    t->shape[0] = t->shape[1];
    t->shape[1] = r;
    t->in_out = 1;
  } else if (t->ndim >= 3) {
    int64_t st[FS_MAX_DIMS], sp = 1;
    int nd = t->ndim;
    for (int i = 0; i < nd - 2; i++) sp *= t->shape[i]; /* fs_tf_dims_fit: no overflow */
    k->cin = t->shape[nd - 2];
    k->cout = t->shape[nd - 1];
    k->spatial = sp;
    k->permute = 1;
    st[0] = k->cout;
    st[1] = k->cin;
    for (int i = 0; i < nd - 2; i++) st[i + 2] = t->shape[i];
    memcpy(t->shape, st, sizeof(int64_t) * (size_t)nd);
  }
}

void fs_tf_permute(const fs_tf_kernel *k, const unsigned char *stored, unsigned char *view,
                   size_t esize) {
  for (int64_t s = 0; s < k->spatial; s++)
    for (int64_t c = 0; c < k->cin; c++)
      for (int64_t o = 0; o < k->cout; o++)
        memcpy(view + (size_t)((o * k->cin + c) * k->spatial + s) * esize,
               stored + (size_t)((s * k->cin + c) * k->cout + o) * esize, esize);
}
