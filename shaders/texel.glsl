// Read-only texel buffers (the texel kernels: matvec_t, matvec_q with -DTEXEL, attention_t,
// get_rows_planar): declared as storage texel buffers and read with imageLoad. Binding B holds
// TEXEL_<TYPE>(B) NAME; FETCH(NAME, i) reads texel i; FETCH_COUNT(NAME) is the view's length.
// The runtime binds them as VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER views in the format the
// qualifier names (rt::PipelineDesc::texel). Storage rather than uniform texel buffers because
// llvmpipe (Mesa 22.3) builds a uniform texel buffer's part of a shader variant key from
// uninitialised memory: the same dispatch then misses compiled code in memory and in the shader
// cache depending on what ran before it (docs/perf.md, twelfth session); an image's part is set.
#define TEXEL_UVEC4(b) layout(binding = b, rgba32ui) uniform restrict readonly uimageBuffer
#define TEXEL_VEC4(b) layout(binding = b, rgba32f) uniform restrict readonly imageBuffer
#define TEXEL_UINT(b) layout(binding = b, r32ui) uniform restrict readonly uimageBuffer
#define FETCH(t, i) imageLoad(t, int(i))
#define FETCH_COUNT(t) uint(imageSize(t))
