# The kernel variant table: vkllm_shader(<name> <source> [DEFINES ...]).
# Keep one line per variant; group by kernel.

# Element-wise
vkllm_shader(add add.comp)

# Scale, copy, softmax, SwiGLU, embedding gather (graph/ops_elementwise.cpp)
vkllm_shader(scale scale.comp)
vkllm_shader(copy copy.comp)
vkllm_shader(softmax softmax.comp)
vkllm_shader(swiglu swiglu.comp)
vkllm_shader(get_rows_f32 get_rows.comp)
vkllm_shader(get_rows_f16 get_rows.comp DEFINES TABLE_F16)

# Matrix products (graph/ops_matmul.cpp)
vkllm_shader(matvec_f32 matvec.comp)
vkllm_shader(matvec_f16 matvec.comp DEFINES WEIGHT_F16)
vkllm_shader(matvec_f32_subgroup matvec.comp DEFINES USE_SUBGROUP)
vkllm_shader(matvec_f16_subgroup matvec.comp DEFINES WEIGHT_F16 USE_SUBGROUP)
vkllm_shader(matmul_f32 matmul.comp)
vkllm_shader(matmul_f16 matmul.comp DEFINES WEIGHT_F16)
vkllm_shader(matmul_rows_f32 matmul_rows.comp)
vkllm_shader(matmul_rows_f16 matmul_rows.comp DEFINES WEIGHT_F16)

# Weights and activations through texel buffers (planar Q4_0/Q8_0/Q4_K/Q5_K/Q6_K from
# quant/repack.h)
foreach(wt f32 f16 bf16 q4_0 q8_0 q4_k q5_k q6_k)
  string(TOUPPER ${wt} WT)
  vkllm_shader(matvec_t_${wt} matvec_t.comp DEFINES WT_${WT})
  vkllm_shader(matvec_t_${wt}_subgroup matvec_t.comp DEFINES WT_${WT} USE_SUBGROUP)
  vkllm_shader(matvec_t_${wt}_lanes matvec_t.comp DEFINES WT_${WT} LANE_ROWS)
  # ..._qkv: the q/k/v product with RoPE and the KV-cache write fused (Ops::matmul_rope_kv)
  vkllm_shader(matvec_t_${wt}_qkv matvec_t.comp DEFINES WT_${WT} QKV_ROPE)
  vkllm_shader(matvec_t_${wt}_subgroup_qkv matvec_t.comp DEFINES WT_${WT} USE_SUBGROUP QKV_ROPE)
  vkllm_shader(matvec_t_${wt}_lanes_qkv matvec_t.comp DEFINES WT_${WT} LANE_ROWS QKV_ROPE)
endforeach()
# The embedding gather from a planar matrix (a tied embedding kept in the output product's layout)
foreach(wt f16 bf16 q4_0 q8_0 q4_k q5_k q6_k)
  string(TOUPPER ${wt} WT)
  vkllm_shader(get_rows_planar_${wt} get_rows_planar.comp DEFINES WT_${WT})
endforeach()

# GGUF block formats read as stored: one header per format, shaders/formats/<glsl>.glsl, selected
# by -DFMT_<GLSL> (the glsl names of quant/formats.h; graph/ops_matmul.cpp, ops_elementwise.cpp).
foreach(fmt q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q4_k q5_k q6_k q2_k q3_k bf16)
  string(TOUPPER ${fmt} FMT)
  vkllm_shader(matvec_${fmt} matvec_q.comp DEFINES FMT_${FMT})
  vkllm_shader(matvec_${fmt}_subgroup matvec_q.comp DEFINES FMT_${FMT} USE_SUBGROUP)
  vkllm_shader(matvec_${fmt}_texel matvec_q.comp DEFINES FMT_${FMT} TEXEL)
  vkllm_shader(matvec_${fmt}_texel_subgroup matvec_q.comp DEFINES FMT_${FMT} TEXEL USE_SUBGROUP)
  vkllm_shader(get_rows_${fmt} get_rows_q.comp DEFINES FMT_${FMT})
endforeach()

# Normalization, positions, KV cache, attention (graph/ops_attention.cpp)
vkllm_shader(rms_norm rms_norm.comp)
vkllm_shader(add_rms_norm rms_norm.comp DEFINES ADD_RESIDUAL)
vkllm_shader(rms_norm_deferred rms_norm.comp DEFINES DEFERRED)
vkllm_shader(rms_norm_rows rms_norm_rows.comp)
vkllm_shader(add_rms_norm_rows rms_norm_rows.comp DEFINES ADD_RESIDUAL)
vkllm_shader(rms_norm_deferred_rows rms_norm_rows.comp DEFINES DEFERRED)
vkllm_shader(rope rope.comp)
vkllm_shader(rope_kv rope_kv.comp)
vkllm_shader(kv_write kv_write.comp)
vkllm_shader(attention attention.comp)
vkllm_shader(attention_t attention_t.comp)
vkllm_shader(attention_t_kv_half attention_t.comp DEFINES KV_HALF)

# Device ceilings for the profiler: bandwidth and FMA throughput (runtime/ceilings.cpp)
vkllm_shader(bench_copy bench_copy.comp)
vkllm_shader(bench_fma bench_fma.comp)

# The lanes of a split context meeting at a barrier (runtime/sequence.cpp)
vkllm_shader(split_sync split_sync.comp)
