// Shared by rope.comp and rope_kv.comp.
#ifndef VKLLM_ROPE_COMMON_GLSL
#define VKLLM_ROPE_COMMON_GLSL

// Angle reduced to about [-pi, pi] by a three-part Cody-Waite subtraction of k * 2pi, so that
// sin/cos stay accurate for the large angles of late positions. The first two parts have few
// significant bits, so k * C1 and k * C2 are exact for k < 2^14 (angles below ~100000).
float reduce_angle(float a) {
  const float k = round(a * 0.15915494309189535);
  precise float r = a - k * 6.28125;
  r = r - k * 0.001934051513671875;
  r = r - k * 1.2556658930407139e-6;
  return r;
}

#endif
