#include "runtime/sequence.h"

#include <fmt/format.h>

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
}  // namespace

Sequence::Sequence(Context& ctx, bool timestamps)
    : ctx_(ctx), timestamps_(timestamps && ctx.info().timestamps) {
  auto ai = vk_init<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = ctx.command_pool();
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  vk_check(vkAllocateCommandBuffers(ctx.device(), &ai, &cb_), "vkAllocateCommandBuffers");
  auto fci = vk_init<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  vk_check(vkCreateFence(ctx.device(), &fci, nullptr, &fence_), "vkCreateFence");
  if (timestamps_) {
    query_capacity_ = kMaxTimestamps;
    auto qi = vk_init<VkQueryPoolCreateInfo>(VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO);
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = query_capacity_;
    vk_check(vkCreateQueryPool(ctx.device(), &qi, nullptr, &queries_), "vkCreateQueryPool");
  }
}

Sequence::~Sequence() {
  VkDevice dev = ctx_.device();
  if (pending_) vkWaitForFences(dev, 1, &fence_, VK_TRUE, UINT64_MAX);
  for (VkDescriptorPool p : pools_) vkDestroyDescriptorPool(dev, p, nullptr);
  for (VkBufferView v : views_) vkDestroyBufferView(dev, v, nullptr);
  if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
  vkDestroyFence(dev, fence_, nullptr);
  vkFreeCommandBuffers(dev, ctx_.command_pool(), 1, &cb_);
}

void Sequence::begin() {
  if (pending_) wait();
  vk_check(vkResetCommandBuffer(cb_, 0), "vkResetCommandBuffer");
  for (VkDescriptorPool p : pools_) vkResetDescriptorPool(ctx_.device(), p, 0);
  sets_in_last_pool_ = storage_in_last_pool_ = texel_in_last_pool_ = 0;
  if (pools_.size() > 1) {
    for (size_t i = 1; i < pools_.size(); ++i)
      vkDestroyDescriptorPool(ctx_.device(), pools_[i], nullptr);
    pools_.resize(1);
  }
  for (VkBufferView v : views_) vkDestroyBufferView(ctx_.device(), v, nullptr);
  views_.clear();
  labels_.clear();
  queries_used_ = 0;
  auto bi = vk_init<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  vk_check(vkBeginCommandBuffer(cb_, &bi), "vkBeginCommandBuffer");
  recording_ = true;
  // Order this submission after the writes of earlier ones (a replayed step reads what the
  // previous step wrote, e.g. the KV cache).
  barrier();
  if (timestamps_) {
    vkCmdResetQueryPool(cb_, queries_, 0, query_capacity_);
    write_timestamp();
  }
}

VkDescriptorSet Sequence::allocate_set(VkDescriptorSetLayout layout, uint32_t storage,
                                       uint32_t texel) {
  if (storage > kDescriptorsPerPool || texel > kDescriptorsPerPool)
    throw DeviceError(
        fmt::format("a descriptor set of {} storage and {} texel buffers is over "
                    "the {} of each a descriptor pool holds",
                    storage, texel, kDescriptorsPerPool));
  // A new pool when this one is out of sets or of descriptors of either type.
  if (pools_.empty() || sets_in_last_pool_ == kSetsPerPool ||
      storage_in_last_pool_ + storage > kDescriptorsPerPool ||
      texel_in_last_pool_ + texel > kDescriptorsPerPool) {
    const VkDescriptorPoolSize sizes[] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kDescriptorsPerPool},
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, kDescriptorsPerPool}};
    auto pi = vk_init<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
    pi.maxSets = kSetsPerPool;
    pi.poolSizeCount = 2;
    pi.pPoolSizes = sizes;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    vk_check(vkCreateDescriptorPool(ctx_.device(), &pi, nullptr, &pool), "vkCreateDescriptorPool");
    pools_.push_back(pool);
    sets_in_last_pool_ = storage_in_last_pool_ = texel_in_last_pool_ = 0;
  }
  auto ai = vk_init<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  ai.descriptorPool = pools_.back();
  ai.descriptorSetCount = 1;
  ai.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  vk_check(vkAllocateDescriptorSets(ctx_.device(), &ai, &set), "vkAllocateDescriptorSets");
  ++sets_in_last_pool_;
  storage_in_last_pool_ += storage;
  texel_in_last_pool_ += texel;
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

  uint32_t n_texel = 0;
  for (uint32_t i = 0; i < p.desc.bindings; ++i) n_texel += p.desc.is_texel(i);
  VkDescriptorSet set = allocate_set(p.set_layout, p.desc.bindings - n_texel, n_texel);
  std::vector<VkDescriptorBufferInfo> infos(bindings.size());
  std::vector<VkWriteDescriptorSet> writes(bindings.size());
  std::vector<VkBufferView> views(bindings.size(), VK_NULL_HANDLE);
  for (size_t i = 0; i < bindings.size(); ++i) {
    const BufferRange& b = bindings[i];
    if (!b.buffer || !*b.buffer)
      throw DeviceError(fmt::format("shader '{}': binding {} has no buffer", p.desc.shader, i));
    uint64_t size = b.size == VK_WHOLE_SIZE ? b.buffer->size() - b.offset : b.size;
    writes[i] = vk_init<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstSet = set;
    writes[i].dstBinding = static_cast<uint32_t>(i);
    writes[i].descriptorCount = 1;
    if (p.desc.is_texel(static_cast<uint32_t>(i))) {
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      views[i] = texel_view(p, i, b, size);
      views_.push_back(views[i]);
      writes[i].pTexelBufferView = &views[i];
      continue;
    }
    if (b.offset + size > b.buffer->size() || size > range_limit)
      throw DeviceError(
          fmt::format("shader '{}': binding {} range [{}, +{}) is outside its buffer "
                      "({} bytes) or over maxStorageBufferRange",
                      p.desc.shader, i, b.offset, size, b.buffer->size()));
    infos[i] = {b.buffer->handle(), b.offset, size};
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(ctx_.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0,
                         nullptr);

  const std::string name = label ? std::string(label) : p.label;
  insert_label(name);
  vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
  vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
  if (push_size) vkCmdPushConstants(cb_, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
  vkCmdDispatch(cb_, groups[0], groups[1], groups[2]);
  labels_.push_back(name);
  write_timestamp();
}

VkBufferView Sequence::texel_view(const Pipeline& p, size_t i, const BufferRange& b,
                                  uint64_t size) {
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
  vi.buffer = b.buffer->handle();
  vi.format = format;
  vi.offset = b.offset;
  vi.range = size;
  VkBufferView view = VK_NULL_HANDLE;
  vk_check(vkCreateBufferView(ctx_.device(), &vi, nullptr, &view), "vkCreateBufferView");
  return view;
}

void Sequence::write_timestamp() {
  if (!timestamps_ || queries_used_ >= query_capacity_) return;
  vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, queries_used_++);
}

void Sequence::barrier() {
  auto mb = vk_init<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = kWriteAccess;
  mb.dstAccessMask = kAllAccess;
  vkCmdPipelineBarrier(cb_, kWorkStages, kWorkStages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void Sequence::barrier(std::span<const BufferRange> ranges) {
  std::vector<VkBufferMemoryBarrier> bars;
  bars.reserve(ranges.size());
  for (const BufferRange& r : ranges) {
    auto b = vk_init<VkBufferMemoryBarrier>(VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER);
    b.srcAccessMask = kWriteAccess;
    b.dstAccessMask = kAllAccess;
    b.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    b.buffer = r.buffer->handle();
    b.offset = r.offset;
    b.size = r.size;
    bars.push_back(b);
  }
  vkCmdPipelineBarrier(cb_, kWorkStages, kWorkStages, 0, 0, nullptr,
                       static_cast<uint32_t>(bars.size()), bars.data(), 0, nullptr);
}

void Sequence::insert_label(const std::string& name) {
  if (!ctx_.cmd_insert_label) return;
  auto l = vk_init<VkDebugUtilsLabelEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_LABEL_EXT);
  l.pLabelName = name.c_str();
  ctx_.cmd_insert_label(cb_, &l);
}

void Sequence::fill(const Buffer& dst, uint64_t offset, uint64_t size, uint32_t value,
                    const char* label) {
  if (!recording_) throw DeviceError("Sequence::fill outside begin()/end()");
  const std::string name = label ? label : "fill";
  insert_label(name);
  vkCmdFillBuffer(cb_, dst.handle(), offset, size, value);
  labels_.push_back(name);
  write_timestamp();
}

void Sequence::copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset,
                    uint64_t size, const char* label) {
  if (!recording_) throw DeviceError("Sequence::copy outside begin()/end()");
  const std::string name = label ? label : "copy";
  insert_label(name);
  VkBufferCopy region{src_offset, dst_offset, size};
  vkCmdCopyBuffer(cb_, src.handle(), dst.handle(), 1, &region);
  labels_.push_back(name);
  write_timestamp();
}

void Sequence::copy_rows(const Buffer& src, uint64_t src_offset, uint64_t src_stride,
                         const Buffer& dst, uint64_t dst_offset, uint64_t dst_stride,
                         uint64_t row_bytes, uint32_t rows, const char* label) {
  if (!recording_) throw DeviceError("Sequence::copy_rows outside begin()/end()");
  if (rows == 0 || row_bytes == 0) return;
  const std::string name = label ? label : "copy_rows";
  insert_label(name);
  std::vector<VkBufferCopy> regions(rows);
  for (uint32_t r = 0; r < rows; ++r)
    regions[r] = {src_offset + r * src_stride, dst_offset + r * dst_stride, row_bytes};
  vkCmdCopyBuffer(cb_, src.handle(), dst.handle(), rows, regions.data());
  labels_.push_back(name);
  write_timestamp();
}

void Sequence::end() {
  // Results become visible to the host (and to the next submission) once the fence signals.
  auto mb = vk_init<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = kWriteAccess;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cb_, kWorkStages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0,
                       nullptr);
  vk_check(vkEndCommandBuffer(cb_), "vkEndCommandBuffer");
  recording_ = false;
}

void Sequence::submit() {
  if (recording_) throw DeviceError("Sequence::submit while still recording (call end())");
  if (pending_) wait();
  auto si = vk_init<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb_;
  vk_check(vkQueueSubmit(ctx_.queue(), 1, &si, fence_), "vkQueueSubmit");
  pending_ = true;
}

void Sequence::wait() {
  if (!pending_) return;
  pending_ = false;
  ctx_.wait_fence(fence_, "command sequence");
  vkResetFences(ctx_.device(), 1, &fence_);
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
