// Vectors of 16 floats for the kernels we write ourselves (Winograd's transforms, shallow
// convolutions), and the fused epilogue they apply to them. Each kernel compiles its hot
// functions per instruction set (LANES_CLONES: AVX-512, AVX2, plain x86-64, picked at load time)
// and forces the helpers inline (LANES_INLINE) so that each copy inlines them in its own set.

#ifndef TVMFORGE_KERNELS_LANES_H_
#define TVMFORGE_KERNELS_LANES_H_

#include <cstring>

#include "dnnl_common.h"

#define LANES_INLINE inline __attribute__((always_inline))
#define LANES_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace {

constexpr int64_t kLanes = 16;  // floats per vector: channels handled together

typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

LANES_INLINE Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

LANES_INLINE void store(float* p, Lanes v) { std::memcpy(p, &v, sizeof v); }

// ``x`` in every lane (a loop, not ``Lanes{} + x``, which costs an add before the broadcast).
LANES_INLINE Lanes splat(float x) {
  Lanes v;
  for (int64_t i = 0; i < kLanes; ++i) v[i] = x;
  return v;
}

// The fused epilogue (see dnnl_kernels.cc's ``act`` codes).
struct Epilogue {
  const float* bias;
  const float* residual;  // NHWC like the output, or null
  int64_t act;
  float lo, hi;
};

inline Epilogue epilogue_of(const TensorView& bias, const TensorView* res, const Attrs& a) {
  return Epilogue{static_cast<const float*>(bias.data_ptr()),
                  res != nullptr ? static_cast<const float*>(res->data_ptr()) : nullptr, a.act,
                  static_cast<float>(a.clip_min), static_cast<float>(a.clip_max)};
}

// ``r`` (output channels from ``k``) with the bias, activation and residual (at ``residual``,
// or null) applied.
LANES_INLINE Lanes apply(const Epilogue& e, Lanes r, int64_t k, const float* residual) {
  bool residual_last = e.act & kResidualLast;
  int64_t act = e.act & ~kResidualLast;
  Lanes zero{};
  r += load(e.bias + k);
  if (residual != nullptr && !residual_last) r += load(residual);
  if (act == 1) r = r > zero ? r : zero;
  if (act == 2) {
    Lanes lo = splat(e.lo), hi = splat(e.hi);
    r = r < lo ? lo : (r > hi ? hi : r);
  }
  if (residual != nullptr && residual_last) r += load(residual);
  return r;
}

}  // namespace

#endif  // TVMFORGE_KERNELS_LANES_H_
