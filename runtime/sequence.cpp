#include "runtime/sequence.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "shaders/registry.h"

namespace vkllm::rt {

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kDescriptorsPerPool = kSetsPerPool * 8;
constexpr uint32_t kMaxTimestamps = 8192;
constexpr VkPipelineStageFlags kWorkStages =
    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kWriteAccess = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkAccessFlags kAllAccess = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
void restart(VkCommandBuffer cb) {
  vk_check(vkResetCommandBuffer(cb, 0), "vkResetCommandBuffer");
  auto bi = vk_init<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  vk_check(vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer");
}

}  // namespace

Sequence::Sequence(Context& ctx, bool timestamps)
    : ctx_(ctx), timestamps_(timestamps && ctx.info().timestamps) {
  lanes_.resize(ctx.lanes());
  work_ = ctx.work_lanes();
  for (uint32_t i = 0; i < ctx.lanes(); ++i) {
    Lane& l = lanes_[i];
    l.device = ctx.device(i);
    l.command_pool = ctx.command_pool(i);
    if (i >= work_) continue;  // a lane that only compiles records nothing else
    l.cb = ctx.new_command_buffer(i);
    auto fci = vk_init<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
    vk_check(vkCreateFence(l.device, &fci, nullptr, &l.fence), "vkCreateFence");
  }
  cb_ = lanes_[0].cb;
  if (work_ > 1) whole_ = ctx.new_command_buffer(0);
  if (timestamps_) {
    query_capacity_ = kMaxTimestamps;
    auto qi = vk_init<VkQueryPoolCreateInfo>(VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO);
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = query_capacity_;
    vk_check(vkCreateQueryPool(ctx.device(), &qi, nullptr, &queries_), "vkCreateQueryPool");
  }
}

Sequence::~Sequence() {
  for (Lane& l : lanes_) {
    if (pending_ && l.fence) vkWaitForFences(l.device, 1, &l.fence, VK_TRUE, UINT64_MAX);
    for (const Lane::Compiling& c : l.compiling) {
      vkWaitForFences(l.device, 1, &c.fence, VK_TRUE, UINT64_MAX);
      l.spare.push_back(c);
    }
    for (VkDescriptorPool p : l.pools) vkDestroyDescriptorPool(l.device, p, nullptr);
    for (VkBufferView v : l.views) vkDestroyBufferView(l.device, v, nullptr);
    if (l.cb) {
      vkDestroyFence(l.device, l.fence, nullptr);
      vkFreeCommandBuffers(l.device, l.command_pool, 1, &l.cb);
    }
    for (const Lane::Compiling& c : l.spare) {
      vkFreeCommandBuffers(l.device, l.command_pool, 1, &c.cb);
      vkDestroyFence(l.device, c.fence, nullptr);
    }
  }
  if (whole_) vkFreeCommandBuffers(lanes_[0].device, lanes_[0].command_pool, 1, &whole_);
  if (queries_) vkDestroyQueryPool(ctx_.device(), queries_, nullptr);
  ctx_.release_split_queues(this);
}

void Sequence::begin() {
  if (pending_) wait();
  for (Lane& l : lanes_) {
    // A recording abandoned before end(): its empty dispatches are waited for (they use its
    // descriptor sets) or dropped, and the lanes compile those pipelines when they first run.
    wait_primes(l, static_cast<uint32_t>(&l - lanes_.data()));
    for (const Lane::Prime& pr : l.primes)
      ctx_.forget_use(*pr.pipeline, static_cast<uint32_t>(&l - lanes_.data()));
    l.primes.clear();
    for (VkDescriptorPool p : l.pools) vkResetDescriptorPool(l.device, p, 0);
    l.sets_in_last_pool = l.storage_in_last_pool = l.texel_in_last_pool = 0;
    if (l.pools.size() > 1) {
      for (size_t i = 1; i < l.pools.size(); ++i)
        vkDestroyDescriptorPool(l.device, l.pools[i], nullptr);
      l.pools.resize(1);
    }
    for (VkBufferView v : l.views) vkDestroyBufferView(l.device, v, nullptr);
    l.views.clear();
    l.meeting = VK_NULL_HANDLE;
    if (!l.cb) continue;
    restart(l.cb);
    // Order this submission after the writes of earlier ones (a replayed step reads what the
    // previous step wrote, e.g. the KV cache). The lanes need not meet: the host waits for every
    // lane's submission before it makes the next.
    memory_barrier(l.cb);
  }
  if (whole_) {
    restart(whole_);
    memory_barrier(whole_);
  }
  prime_owner_.clear();
  prime_load_.clear();
  labels_.clear();
  queries_used_ = 0;
  timestamp_due_ = false;
  recording_ = true;
  if (timestamps_) {
    vkCmdResetQueryPool(cb_, queries_, 0, query_capacity_);
    if (whole_) vkCmdResetQueryPool(whole_, queries_, 0, query_capacity_);
    write_timestamp();
    flush_timestamp();
  }
}

VkDescriptorSet Sequence::allocate_set(Lane& lane, VkDescriptorSetLayout layout, uint32_t storage,
                                       uint32_t texel) {
  if (storage > kDescriptorsPerPool || texel > kDescriptorsPerPool)
    throw DeviceError(
        fmt::format("a descriptor set of {} storage and {} texel buffers is over "
                    "the {} of each a descriptor pool holds",
                    storage, texel, kDescriptorsPerPool));
  // A new pool when this one is out of sets or of descriptors of either type.
  if (lane.pools.empty() || lane.sets_in_last_pool == kSetsPerPool ||
      lane.storage_in_last_pool + storage > kDescriptorsPerPool ||
      lane.texel_in_last_pool + texel > kDescriptorsPerPool) {
    const VkDescriptorPoolSize sizes[] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kDescriptorsPerPool},
        {VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER, kDescriptorsPerPool}};
    auto pi = vk_init<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
    pi.maxSets = kSetsPerPool;
    pi.poolSizeCount = 2;
    pi.pPoolSizes = sizes;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    vk_check(vkCreateDescriptorPool(lane.device, &pi, nullptr, &pool), "vkCreateDescriptorPool");
    lane.pools.push_back(pool);
    lane.sets_in_last_pool = lane.storage_in_last_pool = lane.texel_in_last_pool = 0;
  }
  auto ai = vk_init<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  ai.descriptorPool = lane.pools.back();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  vk_check(vkAllocateDescriptorSets(lane.device, &ai, &set), "vkAllocateDescriptorSets");
  ++lane.sets_in_last_pool;
  lane.storage_in_last_pool += storage;
  lane.texel_in_last_pool += texel;
  return set;
}

void Sequence::dispatch(const Pipeline& p, std::span<const BufferRange> bindings, const void* push,
                        uint32_t push_size, std::array<uint32_t, 3> groups, const char* label) {
  if (!recording_) throw DeviceError("Sequence::dispatch outside begin()/end()");
  if (bindings.size() != p.desc.bindings)
    throw DeviceError(fmt::format("shader '{}' takes {} buffers, {} given", p.desc.shader,
                                  p.desc.bindings, bindings.size()));
  if (push_size != p.desc.push_size)
    throw DeviceError(fmt::format("shader '{}' takes {} bytes of push constants, {} given",
                                  p.desc.shader, p.desc.push_size, push_size));
  const auto& lim = ctx_.info().max_workgroup_count;
  for (int i = 0; i < 3; ++i)
    if (groups[i] == 0 || groups[i] > lim[i])
      throw DeviceError(
          fmt::format("shader '{}': {} workgroups in dimension {} (device allows 1..{})",
                      p.desc.shader, groups[i], i, lim[i]));
  const uint64_t range_limit = ctx_.info().max_storage_buffer_range;
  for (size_t i = 0; i < bindings.size(); ++i) {
    const BufferRange& b = bindings[i];
    if (!b.buffer || !*b.buffer)
      throw DeviceError(fmt::format("shader '{}': binding {} has no buffer", p.desc.shader, i));
    const uint64_t size = b.size == VK_WHOLE_SIZE ? b.buffer->size() - b.offset : b.size;
    if (!p.desc.is_texel(static_cast<uint32_t>(i)) &&
        (b.offset + size > b.buffer->size() || size > range_limit))
      throw DeviceError(
          fmt::format("shader '{}': binding {} range [{}, +{}) is outside its buffer "
                      "({} bytes) or over maxStorageBufferRange",
                      p.desc.shader, i, b.offset, size, b.buffer->size()));
  }
  flush_timestamp();

  const std::string name = label ? std::string(label) : p.label;
  insert_label(name);
  // Lane i runs a contiguous share of the workgroups of the last dimension with more than one
  // (the shaders linearise 2-D grids as x + y * gl_NumWorkGroups.x, which a share of y keeps);
  // lane 0 takes the remainder, so it always has work.
  const uint32_t n = work_;
  const int dim = p.desc.split_dim >= 0 ? std::min(p.desc.split_dim, 2)
                  : groups[2] > 1       ? 2
                  : groups[1] > 1       ? 1
                                        : 0;
  uint32_t base = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t share = groups[dim] / n + (i < groups[dim] % n ? 1 : 0);
    if (share == 0) continue;
    Lane& l = lanes_[i];
    const PipelineObjects& po = p.on(i);
    VkDescriptorSet set = bind(l, i, p, bindings);
    vkCmdBindPipeline(l.cb, VK_PIPELINE_BIND_POINT_COMPUTE, po.pipeline);
    vkCmdBindDescriptorSets(l.cb, VK_PIPELINE_BIND_POINT_COMPUTE, po.layout, 0, 1, &set, 0,
                            nullptr);
    if (push_size)
      vkCmdPushConstants(l.cb, po.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    prime(l, i, p, set, push, push_size);
    if (n == 1) {
      vkCmdDispatch(l.cb, groups[0], groups[1], groups[2]);
    } else {
      if (i == 0) {
        // The unsplit recording: all the workgroups, with lane 0's descriptors.
        vkCmdBindPipeline(whole_, VK_PIPELINE_BIND_POINT_COMPUTE, po.pipeline);
        vkCmdBindDescriptorSets(whole_, VK_PIPELINE_BIND_POINT_COMPUTE, po.layout, 0, 1, &set, 0,
                                nullptr);
        if (push_size)
          vkCmdPushConstants(whole_, po.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
        vkCmdDispatch(whole_, groups[0], groups[1], groups[2]);
      }
      std::array<uint32_t, 3> first{0, 0, 0}, count = groups;
      first[dim] = base;
      count[dim] = share;
      vkCmdDispatchBase(l.cb, first[0], first[1], first[2], count[0], count[1], count[2]);
    }
    base += share;
  }
  // Lanes that only compile: an empty dispatch when the pipeline is new to them.
  for (uint32_t i = n; i < lanes_.size(); ++i)
    if (!ctx_.used(p, i)) prime(lanes_[i], i, p, bind(lanes_[i], i, p, bindings), push, push_size);
  labels_.push_back(name);
  write_timestamp();
}

void Sequence::prime(Lane& lane, uint32_t index, const Pipeline& p, VkDescriptorSet set,
                     const void* push, uint32_t push_size) {
  // llvmpipe compiles a pipeline's code at its first dispatch on each instance; two lanes
  // compiling at the same dispatch can finish 0.1 s apart, longer than a meeting waits. The
  // driver's queue thread compiles while the host records the rest.
  const uint32_t n = static_cast<uint32_t>(lanes_.size());
  if (n == 1 || !ctx_.first_use(p, index)) return;
  auto [owner, added] = prime_owner_.emplace(&p, 0u);
  if (added) {
    prime_load_.resize(n);
    owner->second = static_cast<uint32_t>(std::min_element(prime_load_.begin(), prime_load_.end()) -
                                          prime_load_.begin());
    prime_load_[owner->second] += std::max<size_t>(shaders::find(p.desc.shader).size(), 1);
  }
  const auto* bytes = static_cast<const uint8_t*>(push);
  Lane::Prime pr{&p, set, std::vector<uint8_t>(bytes, bytes + push_size)};
  if (owner->second == index)
    submit_primes(lane, index, std::span<const Lane::Prime>(&pr, 1));
  else
    lane.primes.push_back(std::move(pr));
}

void Sequence::submit_primes(Lane& lane, uint32_t index, std::span<const Lane::Prime> items) {
  if (items.empty()) return;
  if (lane.spare.empty()) {
    Lane::Compiling c;
    c.cb = ctx_.new_command_buffer(index);
    auto fci = vk_init<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
    const VkResult r = vkCreateFence(lane.device, &fci, nullptr, &c.fence);
    if (r != VK_SUCCESS) {
      vkFreeCommandBuffers(lane.device, lane.command_pool, 1, &c.cb);
      throw VulkanError(r, "vkCreateFence");
    }
    lane.spare.push_back(c);
  }
  const Lane::Compiling c = lane.spare.back();
  restart(c.cb);
  for (const Lane::Prime& pr : items) {
    // Nothing runs, but validation counts the bindings' accesses: a barrier before each.
    memory_barrier(c.cb);
    const PipelineObjects& po = pr.pipeline->on(index);
    vkCmdBindPipeline(c.cb, VK_PIPELINE_BIND_POINT_COMPUTE, po.pipeline);
    vkCmdBindDescriptorSets(c.cb, VK_PIPELINE_BIND_POINT_COMPUTE, po.layout, 0, 1, &pr.set, 0,
                            nullptr);
    if (!pr.push.empty())
      vkCmdPushConstants(c.cb, po.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                         static_cast<uint32_t>(pr.push.size()), pr.push.data());
    vkCmdDispatch(c.cb, 0, 0, 0);
  }
  vk_check(vkEndCommandBuffer(c.cb), "vkEndCommandBuffer");
  auto si = vk_init<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &c.cb;
  vk_check(vkQueueSubmit(ctx_.queue(index), 1, &si, c.fence),
           "vkQueueSubmit (compiling pipelines)");
  lane.spare.pop_back();
  lane.compiling.push_back(c);
}

void Sequence::wait_primes(Lane& lane, uint32_t index) {
  for (const Lane::Compiling& c : lane.compiling) {
    ctx_.wait_fence(c.fence, "compiling pipelines", index);
    vkResetFences(lane.device, 1, &c.fence);
    lane.spare.push_back(c);
  }
  lane.compiling.clear();
}

void Sequence::finish_primes() {
  const uint32_t n = static_cast<uint32_t>(lanes_.size());
  if (n > 1) {
    // First what each lane compiled first, then the rest, all lanes in parallel.
    for (uint32_t i = 0; i < n; ++i) wait_primes(lanes_[i], i);
    for (uint32_t i = 0; i < n; ++i) {
      submit_primes(lanes_[i], i, lanes_[i].primes);
      lanes_[i].primes.clear();
    }
    for (uint32_t i = 0; i < n; ++i) wait_primes(lanes_[i], i);
  }
  prime_owner_.clear();
  prime_load_.clear();
}

VkDescriptorSet Sequence::bind(Lane& lane, uint32_t index, const Pipeline& p,
                               std::span<const BufferRange> bindings) {
  uint32_t n_texel = 0;
  for (uint32_t i = 0; i < p.desc.bindings; ++i) n_texel += p.desc.is_texel(i);
  VkDescriptorSet set =
      allocate_set(lane, p.on(index).set_layout, p.desc.bindings - n_texel, n_texel);
  std::vector<VkDescriptorBufferInfo> infos(bindings.size());
  std::vector<VkWriteDescriptorSet> writes(bindings.size());
  std::vector<VkBufferView> views(bindings.size(), VK_NULL_HANDLE);
  for (size_t i = 0; i < bindings.size(); ++i) {
    const BufferRange& b = bindings[i];
    const uint64_t size = b.size == VK_WHOLE_SIZE ? b.buffer->size() - b.offset : b.size;
    writes[i] = vk_init<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    if (p.desc.is_texel(static_cast<uint32_t>(i))) {
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
      views[i] = texel_view(lane, index, p, i, b, size);
      lane.views.push_back(views[i]);
      writes[i].pTexelBufferView = &views[i];
      continue;
    }
    infos[i] = {b.buffer->handle(index), b.offset, size};
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(lane.device, static_cast<uint32_t>(writes.size()), writes.data(), 0,
                         nullptr);
  return set;
}

VkBufferView Sequence::texel_view(Lane& lane, uint32_t index, const Pipeline& p, size_t i,
                                  const BufferRange& b, uint64_t size) {
  const VkFormat format = p.desc.texel[i];
  const bool vec4 =
      format == VK_FORMAT_R32G32B32A32_UINT || format == VK_FORMAT_R32G32B32A32_SFLOAT;
  if (!vec4 && format != VK_FORMAT_R32_UINT && format != VK_FORMAT_R32_SFLOAT)
    throw DeviceError(
        fmt::format("shader '{}': texel binding {} has a format other than the R32G32B32A32 and "
                    "R32 UINT/SFLOAT ones DeviceInfo::texel_buffers checks",
                    p.desc.shader, i));
  const uint64_t texel = vec4 ? 16 : 4;
  const auto& info = ctx_.info();
  if (b.offset + size > b.buffer->size() || size % texel != 0 ||
      b.offset % info.min_texel_offset_alignment != 0 ||
      size / texel > info.max_texel_buffer_elements)
    throw DeviceError(fmt::format(
        "shader '{}': texel binding {} range [{}, +{}) is outside its buffer ({} bytes), not a "
        "whole number of {}-byte texels, misaligned (offset alignment {}) or over "
        "maxTexelBufferElements ({})",
        p.desc.shader, i, b.offset, size, b.buffer->size(), texel, info.min_texel_offset_alignment,
        info.max_texel_buffer_elements));
  auto vi = vk_init<VkBufferViewCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO);
  vi.buffer = b.buffer->handle(index);
  vi.format = format;
  vi.offset = b.offset;
  vi.range = size;
  VkBufferView view = VK_NULL_HANDLE;
  vk_check(vkCreateBufferView(lane.device, &vi, nullptr, &view), "vkCreateBufferView");
  return view;
}

void Sequence::write_timestamp() {
  if (!timestamps_ || queries_used_ >= query_capacity_) return;
  if (work_ > 1) {
    timestamp_due_ = true;  // after the meeting that follows, if any
    return;
  }
  vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, queries_used_++);
}

void Sequence::flush_timestamp() {
  if (!timestamp_due_) return;
  timestamp_due_ = false;
  vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, queries_used_);
  if (whole_)
    vkCmdWriteTimestamp(whole_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, queries_used_);
  ++queries_used_;
}

void Sequence::memory_barrier(VkCommandBuffer cb) const {
  auto mb = vk_init<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = kWriteAccess;
  mb.dstAccessMask = kAllAccess;
  vkCmdPipelineBarrier(cb, kWorkStages, kWorkStages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void Sequence::barrier() {
  for (uint32_t i = 0; i < work_; ++i) memory_barrier(lanes_[i].cb);
  if (whole_) memory_barrier(whole_);
  meet();
}

void Sequence::barrier(std::span<const BufferRange> ranges) {
  for (uint32_t i = 0; i < work_; ++i) {
    std::vector<VkBufferMemoryBarrier> bars;
    bars.reserve(ranges.size());
    for (const BufferRange& r : ranges) {
      auto b = vk_init<VkBufferMemoryBarrier>(VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER);
      b.srcAccessMask = kWriteAccess;
      b.dstAccessMask = kAllAccess;
      b.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
      b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
      b.buffer = r.buffer->handle(i);
      b.offset = r.offset;
      b.size = r.size;
      bars.push_back(b);
    }
    for (VkCommandBuffer cb : {lanes_[i].cb, i == 0 ? whole_ : VK_NULL_HANDLE})
      if (cb)
        vkCmdPipelineBarrier(cb, kWorkStages, kWorkStages, 0, 0, nullptr,
                             static_cast<uint32_t>(bars.size()), bars.data(), 0, nullptr);
  }
  meet();
}

void Sequence::meet() {
  if (work_ < 2 || !recording_) return;
  const Pipeline& p = ctx_.split_sync_pipeline();
  const BufferRange counts(ctx_.split_counters());
  for (uint32_t i = 0; i < work_; ++i) {
    Lane& l = lanes_[i];
    if (!l.meeting) l.meeting = bind(l, i, p, std::span<const BufferRange>(&counts, 1));
    const PipelineObjects& po = p.on(i);
    const uint32_t push[2] = {i, 0};
    prime(l, i, p, l.meeting, push, sizeof(push));
    vkCmdBindPipeline(l.cb, VK_PIPELINE_BIND_POINT_COMPUTE, po.pipeline);
    vkCmdBindDescriptorSets(l.cb, VK_PIPELINE_BIND_POINT_COMPUTE, po.layout, 0, 1, &l.meeting, 0,
                            nullptr);
    vkCmdPushConstants(l.cb, po.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), push);
    vkCmdDispatch(l.cb, 1, 1, 1);
    // The meeting's count writes come before the next meeting's, and the work after it after it.
    memory_barrier(l.cb);
  }
  flush_timestamp();
}

void Sequence::insert_label(const std::string& name) {
  if (!ctx_.cmd_insert_label) return;
  auto l = vk_init<VkDebugUtilsLabelEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_LABEL_EXT);
  l.pLabelName = name.c_str();
  ctx_.cmd_insert_label(cb_, &l);
  if (whole_) ctx_.cmd_insert_label(whole_, &l);
}

void Sequence::fill(const Buffer& dst, uint64_t offset, uint64_t size, uint32_t value,
                    const char* label) {
  if (!recording_) throw DeviceError("Sequence::fill outside begin()/end()");
  flush_timestamp();
  const std::string name = label ? label : "fill";
  insert_label(name);
  for (VkCommandBuffer cb : {cb_, whole_})
    if (cb) vkCmdFillBuffer(cb, dst.handle(), offset, size, value);
  labels_.push_back(name);
  write_timestamp();
}

void Sequence::copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset,
                    uint64_t size, const char* label) {
  if (!recording_) throw DeviceError("Sequence::copy outside begin()/end()");
  flush_timestamp();
  const std::string name = label ? label : "copy";
  insert_label(name);
  VkBufferCopy region{src_offset, dst_offset, size};
  for (VkCommandBuffer cb : {cb_, whole_})
    if (cb) vkCmdCopyBuffer(cb, src.handle(), dst.handle(), 1, &region);
  labels_.push_back(name);
  write_timestamp();
}

void Sequence::copy_rows(const Buffer& src, uint64_t src_offset, uint64_t src_stride,
                         const Buffer& dst, uint64_t dst_offset, uint64_t dst_stride,
                         uint64_t row_bytes, uint32_t rows, const char* label) {
  if (!recording_) throw DeviceError("Sequence::copy_rows outside begin()/end()");
  if (rows == 0 || row_bytes == 0) return;
  flush_timestamp();
  const std::string name = label ? label : "copy_rows";
  insert_label(name);
  std::vector<VkBufferCopy> regions(rows);
  for (uint32_t r = 0; r < rows; ++r)
    regions[r] = {src_offset + r * src_stride, dst_offset + r * dst_stride, row_bytes};
  for (VkCommandBuffer cb : {cb_, whole_})
    if (cb) vkCmdCopyBuffer(cb, src.handle(), dst.handle(), rows, regions.data());
  labels_.push_back(name);
  write_timestamp();
}

void Sequence::end() {
  // The last dispatch's time is until every lane has finished it.
  if (timestamp_due_) meet();
  flush_timestamp();
  // Results become visible to the host (and to the next submission) once the fences signal.
  std::vector<VkCommandBuffer> cbs;
  for (uint32_t i = 0; i < work_; ++i) cbs.push_back(lanes_[i].cb);
  if (whole_) cbs.push_back(whole_);
  for (VkCommandBuffer cb : cbs) {
    auto mb = vk_init<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
    mb.srcAccessMask = kWriteAccess;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cb, kWorkStages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0,
                         nullptr);
    vk_check(vkEndCommandBuffer(cb), "vkEndCommandBuffer");
  }
  recording_ = false;
  finish_primes();
}

void Sequence::submit() {
  if (recording_) throw DeviceError("Sequence::submit while still recording (call end())");
  if (pending_) wait();
  if (whole_) ctx_.claim_split_queues(this);
  // Every lane's part is submitted, even after a failure, so that no lane waits at a meeting
  // for one that never comes; the first failure is reported.
  VkResult first = VK_SUCCESS;
  for (uint32_t i = 0; i < work_; ++i) {
    Lane& l = lanes_[i];
    auto si = vk_init<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    si.commandBufferCount = 1;
    si.pCommandBuffers = &l.cb;
    const VkResult r = vkQueueSubmit(ctx_.queue(i), 1, &si, l.fence);
    if (r != VK_SUCCESS && first == VK_SUCCESS) first = r;
  }
  pending_ = true;
  if (first != VK_SUCCESS) throw VulkanError(first, "vkQueueSubmit");
}

void Sequence::wait() {
  if (!pending_) return;
  pending_ = false;
  for (uint32_t i = 0; i < work_; ++i) {
    ctx_.wait_fence(lanes_[i].fence, "command sequence", i);
    vkResetFences(lanes_[i].device, 1, &lanes_[i].fence);
  }
  if (whole_ && ctx_.take_split_miss()) {
    // A lane gave up waiting for another at a meeting, so the lanes' results are invalid: run the
    // whole sequence again on lane 0 alone.
    ++reruns_;
    if (ctx_.notices())
      std::fprintf(stderr,
                   "vkllm: the split lanes did not meet in time (a core busy with other work?); "
                   "the submission ran again on one lane\n");
    auto si = vk_init<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    si.commandBufferCount = 1;
    si.pCommandBuffers = &whole_;
    vk_check(vkQueueSubmit(ctx_.queue(), 1, &si, lanes_[0].fence), "vkQueueSubmit");
    ctx_.wait_fence(lanes_[0].fence, "command sequence (one lane)");
    vkResetFences(lanes_[0].device, 1, &lanes_[0].fence);
  }
  ctx_.release_split_queues(this);
}

void Sequence::submit_and_wait() {
  submit();
  wait();
}

std::vector<DispatchTiming> Sequence::timings() const {
  std::vector<DispatchTiming> out;
  if (!timestamps_ || queries_used_ < 2) return out;
  std::vector<uint64_t> ts(queries_used_);
  vk_check(vkGetQueryPoolResults(ctx_.device(), queries_, 0, queries_used_,
                                 ts.size() * sizeof(uint64_t), ts.data(), sizeof(uint64_t),
                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
           "vkGetQueryPoolResults");
  const double period = ctx_.info().timestamp_period_ns;
  for (uint32_t i = 1; i < queries_used_ && i - 1 < labels_.size(); ++i)
    out.push_back({labels_[i - 1], (ts[i] - ts[i - 1]) * period * 1e-6});
  return out;
}

}  // namespace vkllm::rt
