# The kernel variant table: vkllm_shader(<name> <source> [DEFINES ...]).
# Keep one line per variant; group by kernel.

# Element-wise
vkllm_shader(add add.comp)

# Normalization, positions, KV cache, attention (graph/ops_attention.cpp)
vkllm_shader(rms_norm rms_norm.comp)
vkllm_shader(rope rope.comp)
vkllm_shader(kv_write kv_write.comp)
vkllm_shader(attention attention.comp)
