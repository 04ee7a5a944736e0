// The non-linear table of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl) that their nibbles index.
#ifndef VKLLM_FORMATS_IQ4_VALUES_GLSL
#define VKLLM_FORMATS_IQ4_VALUES_GLSL
const float kIq4nlValues[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                         1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

// The table values of a block of 32 from its 16 nibble bytes v (element i in the low nibble of
// byte i, 16 + i in its high nibble).
void iq4_values(const uint v[4], out float q[32]) {
  [[unroll]] for (uint k = 0; k < 4; ++k) {
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      const uint b = (v[k] >> (8 * c)) & 0xFFu;
      q[4 * k + c] = kIq4nlValues[b & 15u];
      q[16 + 4 * k + c] = kIq4nlValues[b >> 4];
    }
  }
}
#endif
