// The end of the matrix-vector kernels: sums each invocation's acc[NR * NT] (acc[row * NT + t],
// declared here, accumulated by the kernel) over the workgroup and writes row < M, token < T:
//   PAIRS false: y[t * M + row] = sum (row = row0 + i / NT, t = t0 + i % NT)
//   PAIRS true: rows come in pairs (2j, 2j + 1; M and NR even), stored by the kernel's
//              matvec_pair(row, t, sum 2j, sum 2j + 1) (matvec_t: the gated SwiGLU, or RoPE and
//              the KV-cache write)
// With USE_SUBGROUP a subgroupAdd (one subgroup per workgroup needs no barrier), else a
// shared-memory tree over WG (a power of two) invocations. The kernel declares WG, NR, NT, PAIRS
// (a bool expression), matvec_pair, the push constants p.M / p.T and `float y[]` before including
// this file.
#ifndef VKLLM_MATVEC_REDUCE_GLSL
#define VKLLM_MATVEC_REDUCE_GLSL

shared float red[NR * NT * WG];
float acc[NR * NT];


// Output o from the reduced sums sum(i) (i indexes acc): o < NR * NT / 2 row pairs (PAIRS), or
// o < NR * NT plain sums.
#define MATVEC_WRITE_PAIR(o, sum)                                                             \
  {                                                                                           \
    const uint j_ = (o) / NT, t_ = t0 + (o) % NT, row_ = row0 + 2 * j_;                       \
    if (row_ + 1 < p.M && t_ < p.T)                                                           \
      matvec_pair(row_, t_, sum(2 * j_ * NT + (o) % NT), sum((2 * j_ + 1) * NT + (o) % NT));  \
  }
#define MATVEC_WRITE(o, sum)                                                                  \
  {                                                                                           \
    const uint row_ = row0 + (o) / NT, t_ = t0 + (o) % NT;                                    \
    if (row_ < p.M && t_ < p.T) y[t_ * p.M + row_] = sum(o);                                  \
  }

#if defined(HAS_NORM) && !defined(QKV_ROPE)
#define MATVEC_NORM_EPILOGUE
// The deferred-norm epilogue (matvec_t.comp NORM_OUT, one token) by one invocation: the rows'
// residual sums and the workgroup's sum of s^2 (the workgroup is row block row0 / NR; row block 0
// also zeroes the padding to a multiple of 4).
#define MATVEC_NORM_OUT(sum)                                                                  \
  {                                                                                           \
    const uint blocks_ = (p.M + NR - 1) / NR, padded_ = (blocks_ + 3u) / 4u * 4u;             \
    float ss_ = 0.0;                                                                          \
    [[unroll]] for (uint r_ = 0; r_ < NR; ++r_) {                                             \
      if (row0 + r_ < p.M) ss_ += norm_out_store(row0 + r_, t0, sum(r_));                     \
    }                                                                                         \
    norm_partials[t0 * padded_ + row0 / NR] = ss_;                                            \
    if (row0 == 0u) {                                                                         \
      for (uint i_ = blocks_; i_ < padded_; ++i_) norm_partials[t0 * padded_ + i_] = 0.0;     \
    }                                                                                         \
  }
#endif

void matvec_store(uint row0, uint t0, uint tid) {
#ifdef USE_SUBGROUP
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) acc[i] = subgroupAdd(acc[i]);
  if (gl_NumSubgroups == 1) {
    if (subgroupElect()) {
#define ACC_SUM(i) acc[i]
#ifdef MATVEC_NORM_EPILOGUE
      if (NT == 1u && p.norm == NORM_OUT) {
        MATVEC_NORM_OUT(ACC_SUM)
        return;
      }
#endif
      if (PAIRS) {
        [[unroll]] for (uint o = 0; o < NR * NT / 2; ++o) MATVEC_WRITE_PAIR(o, ACC_SUM)
      } else {
        [[unroll]] for (uint o = 0; o < NR * NT; ++o) MATVEC_WRITE(o, ACC_SUM)
      }
    }
    return;
  }
  if (subgroupElect()) {
    [[unroll]] for (uint i = 0; i < NR * NT; ++i) red[i * WG + gl_SubgroupID] = acc[i];
  }
  barrier();
  // Partial sums of the subgroups, folded into red[i * WG].
  for (uint i = tid; i < NR * NT; i += WG) {
    float sum = 0.0;
    for (uint s = 0; s < gl_NumSubgroups; ++s) sum += red[i * WG + s];
    red[i * WG] = sum;
  }
  barrier();
#else
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) red[i * WG + tid] = acc[i];
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) {
      [[unroll]] for (uint i = 0; i < NR * NT; ++i) red[i * WG + tid] += red[i * WG + tid + s];
    }
    barrier();
  }
#endif
#define RED_SUM(i) red[(i) * WG]
#ifdef MATVEC_NORM_EPILOGUE
  if (NT == 1u && p.norm == NORM_OUT) {
    if (tid == 0) MATVEC_NORM_OUT(RED_SUM)
    return;
  }
#endif
  if (PAIRS) {
    for (uint o = tid; o < NR * NT / 2; o += WG) MATVEC_WRITE_PAIR(o, RED_SUM)
  } else {
    for (uint o = tid; o < NR * NT; o += WG) MATVEC_WRITE(o, RED_SUM)
  }
}

#endif
