// The end of the matrix-vector kernels: sums each invocation's acc[NR * NT] (acc[row * NT + t],
// declared here, accumulated by the kernel) over the workgroup
// and writes output i = row * NT + t to y[(t0 + t) * M + row0 + row] for rows < M, tokens < T.
// With USE_SUBGROUP a subgroupAdd (one subgroup per workgroup needs no barrier), else a
// shared-memory tree over WG (a power of two) invocations. The kernel declares WG, NR, NT, the
// push constants p.M / p.T and `float y[]` before including this file.
#ifndef VKLLM_MATVEC_REDUCE_GLSL
#define VKLLM_MATVEC_REDUCE_GLSL

shared float red[NR * NT * WG];
float acc[NR * NT];

void matvec_store(uint row0, uint t0, uint tid) {
  // Output i = row * NT + t goes to y[(t0 + t) * M + row0 + row].
#ifdef USE_SUBGROUP
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) acc[i] = subgroupAdd(acc[i]);
  if (gl_NumSubgroups == 1) {
    if (subgroupElect()) {
      [[unroll]] for (uint i = 0; i < NR * NT; ++i) {
        const uint row = row0 + i / NT, t = t0 + i % NT;
        if (row < p.M && t < p.T) y[t * p.M + row] = acc[i];
      }
    }
    return;
  }
  if (subgroupElect()) {
    [[unroll]] for (uint i = 0; i < NR * NT; ++i) red[i * WG + gl_SubgroupID] = acc[i];
  }
  barrier();
  for (uint i = tid; i < NR * NT; i += WG) {
    const uint row = row0 + i / NT, t = t0 + i % NT;
    if (row >= p.M || t >= p.T) continue;
    float sum = 0.0;
    for (uint s = 0; s < gl_NumSubgroups; ++s) sum += red[i * WG + s];
    y[t * p.M + row] = sum;
  }
#else
  [[unroll]] for (uint i = 0; i < NR * NT; ++i) red[i * WG + tid] = acc[i];
  barrier();
  [[unroll]] for (uint s = WG / 2; s > 0; s >>= 1) {
    if (tid < s) {
      [[unroll]] for (uint i = 0; i < NR * NT; ++i) red[i * WG + tid] += red[i * WG + tid + s];
    }
    barrier();
  }
  for (uint i = tid; i < NR * NT; i += WG) {
    const uint row = row0 + i / NT, t = t0 + i % NT;
    if (row < p.M && t < p.T) y[t * p.M + row] = red[i * WG];
  }
#endif
}

#endif
