// Command recording: a Sequence is one command buffer of compute dispatches with explicit barriers.
// Record once, submit many times (replay): descriptor sets and push constants are baked in, so
// anything that changes between replays must live in a buffer.
//
// In a split context (Context::work_lanes() > 1) a Sequence records one command buffer per lane:
// each dispatch's workgroups are divided between the lanes along their last dimension of more than
// one (vkCmdDispatchBase, so shaders see their usual gl_WorkGroupID), fills and copies run on lane
// 0, and every barrier is also a meeting of the lanes (shaders/split_sync.comp). Timestamps are
// lane 0's, written after the meeting that follows a dispatch, so a dispatch's time is until every
// lane has finished it. Lane 0 also records the whole sequence unsplit: when the lanes did not
// meet in time (a core taken by another program), wait() runs that once more on lane 0, so a
// sequence recorded in a split context must give the same results when run twice in a row (each
// of vkllm's writes what it reads, or reads only what earlier sequences wrote). A split context
// runs one submission at a time. Lanes that only compile (ContextOptions::split_dispatches false)
// record no command buffer: only the empty dispatches that compile the pipelines new to them.
#pragma once
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/context.h"

namespace vkllm::rt {

struct DispatchTiming {
  std::string label;
  double ms = 0.0;
};

class Sequence {
 public:
  // `timestamps`: write a timestamp after each dispatch (if the queue supports them).
  explicit Sequence(Context& ctx, bool timestamps = false);
  ~Sequence();
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  // Starts (re)recording; previous contents and descriptor sets are discarded.
  void begin();
  // Records a dispatch of `groups` workgroups. `bindings` fill bindings 0..n-1 of set 0.
  void dispatch(const Pipeline& p, std::span<const BufferRange> bindings, const void* push,
                uint32_t push_size, std::array<uint32_t, 3> groups, const char* label = nullptr);
  template <class Push>
  void dispatch(const Pipeline& p, std::initializer_list<BufferRange> bindings, const Push& push,
                std::array<uint32_t, 3> groups, const char* label = nullptr) {
    dispatch(p, std::span<const BufferRange>(bindings.begin(), bindings.size()), &push,
             sizeof(Push), groups, label);
  }
  // Makes all earlier shader and transfer writes visible to later dispatches and transfers.
  void barrier();
  // The same, limited to the given buffer ranges.
  void barrier(std::span<const BufferRange> ranges);
  // Transfer commands; like dispatches, each is labelled and followed by a timestamp, so
  // timings() has one entry per dispatch, fill and copy, in recording order.
  void fill(const Buffer& dst, uint64_t offset, uint64_t size, uint32_t value,
            const char* label = "fill");
  void copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset,
            uint64_t size, const char* label = "copy");
  // Rows r < rows of row_bytes each, from src_offset + r * src_stride to dst_offset + r *
  // dst_stride: one copy command with a region per row.
  void copy_rows(const Buffer& src, uint64_t src_offset, uint64_t src_stride, const Buffer& dst,
                 uint64_t dst_offset, uint64_t dst_stride, uint64_t row_bytes, uint32_t rows,
                 const char* label = "copy_rows");
  // Finishes recording; makes results visible to the host after the submission completes.
  void end();

  // Submits the recorded commands and waits for them. May be called any number of times.
  void submit_and_wait();
  void submit();
  void wait();

  // Descriptor pools the recording uses (each holds a fixed number of sets and of descriptors of
  // each type; a set that does not fit starts a new pool): lane 0's.
  size_t descriptor_pools() const { return lanes_[0].pools.size(); }
  // Dispatches, fills and copies recorded since begin().
  size_t dispatch_count() const { return labels_.size(); }
  // Whether this sequence writes timestamps (requested and supported by the queue).
  bool timestamps() const { return timestamps_; }
  bool recording() const { return recording_; }
  // Per-dispatch GPU time of the last completed submission (empty without timestamps).
  std::vector<DispatchTiming> timings() const;
  // Split contexts: submissions re-run unsplit on lane 0 because the lanes did not meet in time.
  uint64_t reruns() const { return reruns_; }

 private:
  // One lane's command buffer and the descriptors its recording uses.
  struct Lane {
    VkDevice device = VK_NULL_HANDLE;
    VkCommandPool command_pool = VK_NULL_HANDLE;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    std::vector<VkDescriptorPool> pools;
    std::vector<VkBufferView> views;  // texel-buffer views of the recorded dispatches
    uint32_t sets_in_last_pool = 0;
    uint32_t storage_in_last_pool = 0, texel_in_last_pool = 0;  // descriptors used of each type
    VkDescriptorSet meeting = VK_NULL_HANDLE;  // the meeting dispatch's set in this recording
    // Split contexts: empty dispatches of the pipelines this lane runs first in the context,
    // submitted while the host records the rest (`compiling`, with a fence each; `spare` for
    // reuse), or kept for end() when another lane compiles them first (`primes`).
    struct Prime {
      const Pipeline* pipeline;
      VkDescriptorSet set;
      std::vector<uint8_t> push;
    };
    std::vector<Prime> primes;
    struct Compiling {
      VkCommandBuffer cb = VK_NULL_HANDLE;
      VkFence fence = VK_NULL_HANDLE;
    };
    std::vector<Compiling> compiling, spare;
  };
  // Split contexts, where the context has not run `p` on lane `index` before: an empty dispatch
  // of `p` with this dispatch's bindings, submitted now when this lane is the one to compile `p`
  // first, at end() when not.
  void prime(Lane& lane, uint32_t index, const Pipeline& p, VkDescriptorSet set, const void* push,
             uint32_t push_size);
  // Submits empty dispatches of `items` on the lane's queue.
  void submit_primes(Lane& lane, uint32_t index, std::span<const Lane::Prime> items);
  // Waits for the lane's submitted empty dispatches.
  void wait_primes(Lane& lane, uint32_t index);
  // Split contexts, at end(): every lane has compiled every pipeline it runs before the lanes
  // first meet (a lane compiling at a meeting makes the others give up waiting).
  void finish_primes();
  // The lane that compiles each pipeline new in this recording first, the others after it (then
  // from the driver's shader cache, where it has one), so that the lanes do not all compile the
  // same pipeline at once; and each lane's share so far in SPIR-V words (a rough measure of the
  // compile's time): a new pipeline goes to the lane with the least.
  std::unordered_map<const Pipeline*, uint32_t> prime_owner_;
  std::vector<uint64_t> prime_load_;

  // A set of `storage` storage-buffer and `texel` texel-buffer descriptors, from the lane's last
  // pool while it has room for them (a pool holds a fixed number of sets and of each type).
  VkDescriptorSet allocate_set(Lane& lane, VkDescriptorSetLayout layout, uint32_t storage,
                               uint32_t texel);
  // A view of binding i's range in the pipeline's texel format (checked against the device's
  // texel-buffer limits); owned by the sequence until the next begin().
  VkBufferView texel_view(Lane& lane, uint32_t index, const Pipeline& p, size_t i,
                          const BufferRange& b, uint64_t size);
  // The set of bindings for lane `index` of dispatch `p`.
  VkDescriptorSet bind(Lane& lane, uint32_t index, const Pipeline& p,
                       std::span<const BufferRange> bindings);
  void memory_barrier(VkCommandBuffer cb) const;
  // Split contexts: every lane records the meeting dispatch (after a barrier).
  void meet();
  void write_timestamp();
  // Split contexts: the timestamp of the last command, written once the lanes have met after it.
  void flush_timestamp();
  void insert_label(const std::string& name);

  Context& ctx_;
  std::vector<Lane> lanes_;
  uint32_t work_ = 1;                    // Context::work_lanes(): the lanes after them only compile
  VkCommandBuffer cb_ = VK_NULL_HANDLE;  // lane 0's
  // Split contexts: lane 0's unsplit recording of the whole sequence, run when the lanes did not
  // meet in time; and how many times that happened.
  VkCommandBuffer whole_ = VK_NULL_HANDLE;
  uint64_t reruns_ = 0;
  bool timestamp_due_ = false;
  bool recording_ = false;
  bool pending_ = false;
  bool timestamps_ = false;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  uint32_t query_capacity_ = 0;
  uint32_t queries_used_ = 0;
  std::vector<std::string> labels_;
};

}  // namespace vkllm::rt
