#version 450
// RMSNorm and its variants exactly as rms_norm.comp (ADD_RESIDUAL: add_rms_norm_rows, DEFERRED:
// rms_norm_deferred_rows), with one subgroup per row instead of a 128-wide workgroup: each
// invocation sums the squares of every WG-th vec4 of the row, subgroupAdd gives the row's sum.
// No shared memory and no workgroup barrier (on CPU drivers each barrier switches between all of
// a workgroup's subgroups and shared-memory accesses are per-lane loops). n a multiple of 4.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(constant_id = 0) const uint WG = 8;  // the subgroup size
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, binding = 1) readonly buffer W { vec4 w[]; };
layout(std430, binding = 2) writeonly buffer Y { vec4 y[]; };
#ifdef ADD_RESIDUAL
layout(std430, binding = 3) readonly buffer B { vec4 b[]; };
layout(std430, binding = 4) writeonly buffer S { vec4 sum_out[]; };
#define LOAD(i) (x[i] + b[i])
#else
#define LOAD(i) x[i]
#endif
#ifdef DEFERRED
layout(std430, binding = 3) writeonly buffer NP { vec4 partials[]; };
#endif
layout(push_constant) uniform P {
  uint n;
  uint rows;
  float eps;
} p;

void main() {
  const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint tid = gl_SubgroupInvocationID;
  const uint n4 = p.n / 4, base = row * n4;

  vec4 sq = vec4(0.0);
  for (uint i = tid; i < n4; i += WG) {
    const vec4 v = LOAD(base + i);
#ifdef ADD_RESIDUAL
    sum_out[base + i] = v;
#endif
    sq = fma(v, v, sq);
  }
  const float ss = subgroupAdd((sq.x + sq.y) + (sq.z + sq.w));
#ifdef DEFERRED
  if (subgroupElect()) partials[row] = vec4(ss, 0.0, 0.0, 0.0);
  const float r = 1.0;
#else
  const float r = inversesqrt(ss / float(p.n) + p.eps);
#endif
  for (uint i = tid; i < n4; i += WG) y[base + i] = LOAD(base + i) * r * w[i];
}
