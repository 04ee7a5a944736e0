// Runtime: device listing and choice, buffer limits, transfers, pipelines and the pipeline cache.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "runtime/ceilings.h"
#include "runtime/context.h"
#include "support/scratch.h"
#include "support/vk_test.h"

using namespace vkllm;

TEST_CASE("devices: at least one device is listed with its limits") {
  auto devices = rt::list_devices();
  REQUIRE(!devices.empty());
  for (const auto& d : devices) {
    CHECK(!d.name.empty());
    CHECK(d.max_storage_buffer_range > 0);
    CHECK(d.max_shared_memory > 0);
    CHECK(d.subgroup_size >= 1);
    CHECK(!d.heaps.empty());
  }
}

TEST_CASE("devices: choice prefers discrete GPUs and rejects bad indices") {
  std::vector<rt::DeviceInfo> devs(3);
  devs[0].type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  devs[1].type = VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  devs[2].type = VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
  for (auto& d : devs) {
    d.compute_queue_family = 0;
    d.api_version = VK_API_VERSION_1_2;
  }
  CHECK(rt::choose_device(devs, -1) == 2);
  CHECK(rt::choose_device(devs, 0) == 0);
  devs[2].compute_queue_family = UINT32_MAX;
  CHECK(rt::choose_device(devs, -1) == 1);
  CHECK_THROWS_AS(rt::choose_device(devs, 3), rt::DeviceError);
  CHECK_THROWS_AS(rt::choose_device({}, -1), rt::DeviceError);
  std::vector<rt::DeviceInfo> cpu_only(1);
  cpu_only[0].type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  cpu_only[0].compute_queue_family = 0;
  cpu_only[0].api_version = VK_API_VERSION_1_3;
  CHECK(rt::choose_device(cpu_only, -1) == 0);
}

TEST_CASE("memory: buffers over maxStorageBufferRange are refused with a clear error") {
  auto& ctx = test::context();
  const uint64_t limit = ctx.info().max_storage_buffer_range;
  try {
    auto b = ctx.create_buffer(limit + 4, "too_big");
    FAIL("expected a DeviceError");
  } catch (const rt::DeviceError& e) {
    CHECK(std::string(e.what()).find("maxStorageBufferRange") != std::string::npos);
    CHECK(std::string(e.what()).find("too_big") != std::string::npos);
  }
  test::check_no_validation_messages();
}

TEST_CASE("memory: sub-allocation shares blocks and transfers round-trip") {
  auto& ctx = test::context();
  const uint64_t blocks_before = ctx.allocator().block_count();
  std::vector<rt::Buffer> bufs;
  for (int i = 0; i < 16; ++i) bufs.push_back(ctx.create_buffer(1000 + 4 * i));
  CHECK(ctx.allocator().block_count() <= blocks_before + 1);
  for (int i = 0; i < 16; ++i) {
    auto data = test::random_floats(250 + i, 100 + i);
    ctx.upload(bufs[i], 0, data.data(), data.size() * 4);
  }
  for (int i = 0; i < 16; ++i) {
    auto want = test::random_floats(250 + i, 100 + i);
    std::vector<float> got(want.size());
    ctx.download(bufs[i], 0, got.data(), got.size() * 4);
    CHECK(got == want);
  }
  CHECK_THROWS_AS(ctx.upload(bufs[0], 996, bufs.data(), 8), rt::DeviceError);
  bufs.clear();
  CHECK(ctx.allocator().bytes_in_use() == 0);
  test::check_no_validation_messages();
}

TEST_CASE("pipelines: unknown shader names and wrong bindings are errors") {
  auto& ctx = test::context();
  CHECK_THROWS_AS(ctx.pipeline({"no_such_shader", 1, 0, {}}), rt::DeviceError);
  const auto& p = ctx.pipeline({"add", 3, 8, {64}});
  CHECK(&p == &ctx.pipeline({"add", 3, 8, {64}}));
  rt::Sequence seq(ctx);
  seq.begin();
  rt::Buffer b = ctx.create_buffer(64);
  uint32_t push[2] = {1, 1};
  CHECK_THROWS_AS(seq.dispatch(p, {b, b}, push, {1, 1, 1}), rt::DeviceError);
  seq.end();
  test::check_no_validation_messages();
}

// A descriptor pool holds a fixed number of sets (256) and of descriptors of each type (2048): a
// sequence of sets with more storage buffers than the 8 per set the pool is sized for must move
// on to a new pool when its descriptors run out, not only when its sets do (drivers may refuse
// the allocation with VK_ERROR_OUT_OF_POOL_MEMORY; lavapipe does not, so the test counts pools).
TEST_CASE("sequences: many descriptor-heavy dispatches fit in their descriptor pools") {
  auto& ctx = test::context();
  if (!ctx.info().texel_buffers) return;
  // The fused q/k/v product with the deferred norm, F32 weights: 9 storage and 3 texel bindings.
  const VkFormat f = VK_FORMAT_R32G32B32A32_SFLOAT, u = VK_FORMAT_UNDEFINED;
  const rt::PipelineDesc desc{
      "matvec_t_f32_lanes_qkv", 12, 48, {8, 2, 1, 0, 8, 0}, {f, f, u, u, u, u, u, u, u, u, u, f}};
  const auto& p = ctx.pipeline(desc);
  rt::Buffer b = ctx.create_buffer(4096);
  const std::vector<rt::BufferRange> binds(12, rt::BufferRange(b));
  const std::vector<uint32_t> push(12, 0);
  rt::Sequence seq(ctx);
  seq.begin();
  // 250 sets: one pool's worth of sets, but 2250 storage descriptors.
  for (int i = 0; i < 250; ++i) {
    seq.dispatch(p, binds, push.data(), 48, {1, 1, 1});
    seq.barrier();  // every binding is the same buffer
  }
  seq.end();
  CHECK(seq.dispatch_count() == 250);
  CHECK(seq.descriptor_pools() == 2);
  seq.submit_and_wait();
  test::check_no_validation_messages();
}

TEST_CASE("pipelines: texel bindings are keyed by format and checked against the texel limits") {
  auto& ctx = test::context();
  if (!ctx.info().texel_buffers) return;
  CHECK(ctx.info().max_texel_buffer_elements > 0);
  CHECK(ctx.info().min_texel_offset_alignment >= 1);
  rt::PipelineDesc storage{"matvec_t_f32", 3, 16, {8, 1, 1}, {}};
  rt::PipelineDesc texel = storage;
  texel.texel = {VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32G32B32A32_SFLOAT};
  CHECK(storage.key() != texel.key());
  CHECK(texel.is_texel(0));
  CHECK(texel.is_texel(1));
  CHECK_FALSE(texel.is_texel(2));
  const auto& p = ctx.pipeline(texel);
  rt::Buffer b = ctx.create_buffer(4096);
  uint32_t push[4] = {4, 32, 1, 0};
  rt::Sequence seq(ctx);
  seq.begin();
  // Not a whole number of 16-byte texels.
  CHECK_THROWS_WITH_AS(seq.dispatch(p, {rt::BufferRange(b, 0, 100), b, b}, push, {1, 1, 1}),
                       doctest::Contains("texel"), rt::DeviceError);
  // Past the end of the buffer.
  CHECK_THROWS_AS(seq.dispatch(p, {rt::BufferRange(b, 4080, 32), b, b}, push, {1, 1, 1}),
                  rt::DeviceError);
  if (ctx.info().min_texel_offset_alignment > 1) {
    const uint64_t off = ctx.info().min_texel_offset_alignment / 2;
    CHECK_THROWS_WITH_AS(seq.dispatch(p, {rt::BufferRange(b, off, 512), b, b}, push, {1, 1, 1}),
                         doctest::Contains("misaligned"), rt::DeviceError);
  }
  CHECK_NOTHROW(seq.dispatch(
      p, {rt::BufferRange(b, 0, 512), rt::BufferRange(b, 512, 128), rt::BufferRange(b, 1024, 16)},
      push, {1, 1, 1}));
  seq.end();
  seq.submit_and_wait();
  test::check_no_validation_messages();
}

TEST_CASE("pipeline cache: written on exit, reloaded by the next context, foreign data ignored") {
  namespace fs = std::filesystem;
  const fs::path dir = test::scratch_dir() / "pipeline-cache";
  fs::remove_all(dir);
  rt::ContextOptions o;
  o.pipeline_cache_dir = dir.string();
  o.notices = false;
  o.validation = 0;
  std::string path;
  {
    rt::Context ctx(o);
    path = ctx.pipeline_cache_path();
    CHECK(ctx.pipeline_cache_loaded_bytes() == 0);
    ctx.pipeline({"add", 3, 8, {64}});
  }
  REQUIRE(fs::exists(path));
  const auto size = fs::file_size(path);
  CHECK(size >= sizeof(VkPipelineCacheHeaderVersionOne));
  {
    rt::Context ctx(o);
    CHECK(ctx.pipeline_cache_loaded_bytes() == size);
    ctx.pipeline({"add", 3, 8, {64}});
  }
  {  // A corrupted file is ignored, not trusted.
    std::ofstream(path, std::ios::binary | std::ios::trunc) << "garbage that is not a cache header";
    rt::Context ctx(o);
    CHECK(ctx.pipeline_cache_loaded_bytes() == 0);
    ctx.pipeline({"add", 3, 8, {64}});
  }
  {  // Disabled: no path, nothing loaded.
    rt::ContextOptions off = o;
    off.pipeline_cache = false;
    rt::Context ctx(off);
    CHECK(ctx.pipeline_cache_path().empty());
  }
  fs::remove_all(dir);
}

TEST_CASE("context: a driver setting made before the device is created re-creates the instance") {
  rt::ContextOptions o;
  o.notices = false;
  o.pipeline_cache = false;
  std::string seen;
  o.before_device = [&](const rt::DeviceInfo& info) {
    seen = info.name;
    ::setenv("VKLLM_TEST_DRIVER_SETTING", "1", 1);
    return rt::DriverSetup{"VKLLM_TEST_DRIVER_SETTING=1"};
  };
  {
    rt::Context ctx(o);
    CHECK(seen == ctx.info().name);
    CHECK(ctx.driver_setting() == "VKLLM_TEST_DRIVER_SETTING=1");
    // The re-created device works.
    auto data = test::random_floats(100, 5);
    rt::Buffer b = ctx.create_buffer(400);
    ctx.upload(b, 0, data.data(), 400);
    std::vector<float> got(100);
    ctx.download(b, 0, got.data(), 400);
    CHECK(got == data);
    // Its measured ceilings are cached apart from those without the setting.
    CHECK(rt::ceilings_cache_path(ctx.info(), "/c", ctx.driver_setting()) ==
          fmt::format("/c/ceilings-{}-{}-VKLLM_TEST_DRIVER_SETTING_1.txt", ctx.info().uuid_string(),
                      ctx.info().driver_version));
    CHECK(ctx.validation_messages() == 0);
  }
  ::unsetenv("VKLLM_TEST_DRIVER_SETTING");
  // Without a setting the context keeps its first instance and reports none.
  o.before_device = [](const rt::DeviceInfo&) { return rt::DriverSetup{}; };
  rt::Context plain(o);
  CHECK(plain.driver_setting().empty());
}

TEST_CASE("timestamps: per-dispatch timings are reported") {
  auto& ctx = test::context();
  if (!ctx.info().timestamps) return;
  rt::Buffer b = ctx.create_buffer(4096);
  rt::Sequence seq(ctx, true);
  const auto& p = ctx.pipeline({"add", 3, 8, {64}});
  uint32_t push[2] = {1024, 1024};
  seq.begin();
  seq.fill(b, 0, 4096, 0);
  seq.barrier();
  seq.dispatch(
      p, {rt::BufferRange(b, 0, 4096), rt::BufferRange(b, 0, 4096), rt::BufferRange(b, 0, 4096)},
      push, {16, 1, 1}, "first");
  seq.end();
  seq.submit_and_wait();
  auto t = seq.timings();
  // Fills and copies are timed and labelled like dispatches: one entry per recorded command.
  REQUIRE(t.size() == 2);
  CHECK(seq.dispatch_count() == 2);
  CHECK(t[0].label == "fill");
  CHECK(t[1].label == "first");
  CHECK(t[0].ms >= 0.0);
  CHECK(t[1].ms >= 0.0);
  test::check_no_validation_messages();
}

TEST_CASE("validation canary: a missing barrier is caught by synchronization validation") {
  if (!rt::validation_requested_by_env()) return;
  // A private context, so its (expected) messages do not count against the suite.
  rt::ContextOptions o;
  o.validation = 1;
  o.notices = false;
  o.pipeline_cache = false;
  rt::Context ctx(o);
  rt::Buffer a = ctx.create_buffer(256), b = ctx.create_buffer(256);
  const auto& p = ctx.pipeline({"add", 3, 8, {64}});
  uint32_t push[2] = {64, 64};
  rt::Sequence seq(ctx);
  seq.begin();
  seq.dispatch(p, {a, a, b}, push, {1, 1, 1});
  seq.dispatch(p, {b, b, a}, push, {1, 1, 1});  // reads b, written above, with no barrier
  seq.end();
  seq.submit_and_wait();
  MESSAGE("the validation message printed above is expected");
  CHECK(ctx.validation_messages() > 0);
}
