#version 450
// The meeting of a split context's lanes at a barrier (runtime/sequence.cpp): every lane's
// device records this dispatch after the barrier, so no lane starts the dispatches after it until
// every lane has finished those before it. Each lane counts its arrivals in its own 64-byte line
// of `word` (only that lane writes it) and waits until every lane's count has reached its own.
//
// Forward progress across the lanes' devices is outside the Vulkan specification; it holds on a
// CPU device whose driver instances each run dispatches on their own thread, the only devices a
// context is split on.
//
// llvmpipe ends any loop of one invocation after 65535 iterations in all (gallivm's loop limiter),
// so the wait cannot be one long spin: the workgroup's subgroups, which llvmpipe runs one after
// another after the barrier, each wait their own share (one that finds the lanes met exits after
// one look). A wait that still runs out sets the flag after the counts
// (Context::check_split_meetings reports it): never a silent race.
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint LANES = 2;
layout(std430, binding = 0) coherent buffer Counts { uint word[]; };
layout(push_constant) uniform P {
  uint lane;
  uint unused;
} p;

shared uint target;

const uint kLine = 16;          // words per 64-byte line
const uint kIterations = 60000; // under the driver's loop limit, with the unrolled lane loop

void main() {
  if (gl_LocalInvocationIndex == 0)
    target = atomicAdd(word[p.lane * kLine], 1u, gl_ScopeDevice, gl_StorageSemanticsBuffer,
                       gl_SemanticsAcquireRelease) + 1u;
  barrier();
  const uint t = target;
  bool done = false;
  for (uint i = 0; i < kIterations && !done; ++i) {
    bool all = true;
    [[unroll]] for (uint k = 0; k < LANES; ++k) {
      const uint c = atomicLoad(word[k * kLine], gl_ScopeDevice, gl_StorageSemanticsBuffer,
                                gl_SemanticsAcquire);
      all = all && int(c - t) >= 0;
    }
    done = all;
  }
  // The last subgroup runs last: if even its wait ran out, the lanes did not meet.
  if (!done && gl_LocalInvocationIndex == gl_WorkGroupSize.x - 1)
    atomicOr(word[LANES * kLine], 1u);
}
