// 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) algorithm: each 4x4 output tile comes
// from a 6x6 input patch with 36 products per channel pair instead of 144, so the multiply
// work is a quarter of a direct convolution's. Three steps per call:
//   1. input transform (here): V[p][t][c] = (B^T d B)[p] for every 6x6 patch d of tile t;
//   2. 36 matrix products, one per point p: M[p] = V[p] (tiles x C) @ U[p] (C x K), by one
//      oneDNN batched matmul; U = G g G^T, the weights' transform, is computed once and cached;
//   3. output transform (here): y = A^T M A per tile, then the fused epilogue (bias, residual,
//      ReLU or clip) as the direct kernels do it.
// Activations are NHWC and the channel counts multiples of 16 (the transforms run 16 channels
// at a time; they are compiled for AVX-512, AVX2 and plain x86-64 and picked at load time).
// The transforms add rounding: about 1e-5 relative to the outputs' magnitude in float32.
//
// Exported (tvm-ffi, outputs last), with tvmforge_dnnl_conv2d[_add]'s signature:
//   tvmforge_winograd_conv2d(src, weight (OHWI, 3x3), bias, attrs..., dst)
//   tvmforge_winograd_conv2d_add(src, weight, bias, residual, attrs..., dst)

#include <omp.h>

#include <cstdlib>
#include <cstring>

#include "dnnl_common.h"

namespace {

constexpr int64_t kTile = 4;    // output rows (and columns) per tile
constexpr int64_t kPatch = 6;   // input rows (and columns) per tile
constexpr int64_t kPoints = 36;  // kPatch * kPatch
constexpr int64_t kLanes = 16;  // channels transformed together
constexpr int64_t kKernelKind = 4;  // the primitive cache's kind (see signature)

// Helpers of the transforms are forced inline so that each compiled copy of a transform (see
// target_clones) inlines them in its own instruction set.
#define WINOGRAD_INLINE inline __attribute__((always_inline))

typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

WINOGRAD_INLINE Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

WINOGRAD_INLINE void store(float* p, Lanes v) { std::memcpy(p, &v, sizeof v); }

// B^T applied to six values (rows or columns of a patch).
template <class T>
WINOGRAD_INLINE void input_step(const T (&d)[kPatch], T (&out)[kPatch]) {
  out[0] = 4 * d[0] - 5 * d[2] + d[4];
  out[1] = -4 * (d[1] + d[2]) + d[3] + d[4];
  out[2] = 4 * (d[1] - d[2]) - d[3] + d[4];
  out[3] = -2 * (d[1] - d[3]) - d[2] + d[4];
  out[4] = 2 * (d[1] - d[3]) - d[2] + d[4];
  out[5] = 4 * d[1] - 5 * d[3] + d[5];
}

// A^T applied to six values.
template <class T>
WINOGRAD_INLINE void output_step(const T (&m)[kPatch], T (&out)[kTile]) {
  out[0] = m[0] + m[1] + m[2] + m[3] + m[4];
  out[1] = m[1] - m[2] + 2 * (m[3] - m[4]);
  out[2] = m[1] + m[2] + 4 * (m[3] + m[4]);
  out[3] = m[1] - m[2] + 8 * (m[3] - m[4]) + m[5];
}

// Shapes of one convolution and its tiling.
struct Geometry {
  int64_t h, w, c, k, oh, ow, pad_t, pad_l, tiles_h, tiles_w;
  int64_t tiles() const { return tiles_h * tiles_w; }
};

// The fused epilogue (see dnnl_kernels.cc's ``act`` codes).
struct Epilogue {
  const float* bias;
  const float* residual;  // NHWC like the output, or null
  int64_t act;
  float lo, hi;
};

// Step 1 for tile ``t``, channels [c, c + 16).
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
transform_input_tile(const float* x, const Geometry& g, int64_t t, float* v) {
  int64_t y0 = t / g.tiles_w * kTile - g.pad_t, x0 = t % g.tiles_w * kTile - g.pad_l;
  for (int64_t c = 0; c < g.c; c += kLanes) {
    Lanes rows[kPatch][kPatch];
    for (int64_t i = 0; i < kPatch; ++i) {
      Lanes col[kPatch], out[kPatch];
      for (int64_t j = 0; j < kPatch; ++j) {
        int64_t y = y0 + j, xx = x0 + i;
        bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
        col[j] = inside ? load(x + (y * g.w + xx) * g.c + c) : Lanes{};
      }
      input_step(col, out);
      for (int64_t j = 0; j < kPatch; ++j) rows[j][i] = out[j];
    }
    for (int64_t i = 0; i < kPatch; ++i) {
      Lanes out[kPatch];
      input_step(rows[i], out);
      for (int64_t j = 0; j < kPatch; ++j) {
        store(v + ((i * kPatch + j) * g.tiles() + t) * g.c + c, out[j]);
      }
    }
  }
}

// Step 3 for tile ``t``: every output channel, with the epilogue.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
transform_output_tile(const float* m, const Geometry& g, const Epilogue& e, int64_t t, float* y) {
  int64_t ty = t / g.tiles_w * kTile, tx = t % g.tiles_w * kTile;
  bool residual_last = e.act & kResidualLast;
  int64_t act = e.act & ~kResidualLast;
  Lanes lo = Lanes{} + e.lo, hi = Lanes{} + e.hi, zero = Lanes{};
  for (int64_t k = 0; k < g.k; k += kLanes) {
    Lanes cols[kPatch][kTile];
    for (int64_t j = 0; j < kPatch; ++j) {
      Lanes col[kPatch], out[kTile];
      for (int64_t i = 0; i < kPatch; ++i) {
        col[i] = load(m + ((i * kPatch + j) * g.tiles() + t) * g.k + k);
      }
      output_step(col, out);
      for (int64_t i = 0; i < kTile; ++i) cols[j][i] = out[i];
    }
    Lanes bias = load(e.bias + k);
    for (int64_t i = 0; i < kTile && ty + i < g.oh; ++i) {
      Lanes row[kPatch], out[kTile];
      for (int64_t j = 0; j < kPatch; ++j) row[j] = cols[j][i];
      output_step(row, out);
      for (int64_t j = 0; j < kTile && tx + j < g.ow; ++j) {
        int64_t at = ((ty + i) * g.ow + tx + j) * g.k + k;
        Lanes r = out[j] + bias;
        if (e.residual != nullptr && !residual_last) r += load(e.residual + at);
        if (act == 1) r = r > zero ? r : zero;
        if (act == 2) r = r < lo ? lo : (r > hi ? hi : r);
        if (e.residual != nullptr && residual_last) r += load(e.residual + at);
        store(y + at, r);
      }
    }
  }
}

// U = G g G^T per (output, input) channel pair, laid out (36, C, K).
std::vector<float> transform_weights(const float* w, int64_t k_out, int64_t c_in) {
  static const double kG[kPatch][3] = {{1 / 4., 0, 0},           {-1 / 6., -1 / 6., -1 / 6.},
                                      {-1 / 6., 1 / 6., -1 / 6.}, {1 / 24., 1 / 12., 1 / 6.},
                                      {1 / 24., -1 / 12., 1 / 6.}, {0, 0, 1}};
  std::vector<float> u(kPoints * c_in * k_out);
  for (int64_t k = 0; k < k_out; ++k) {
    for (int64_t c = 0; c < c_in; ++c) {
      auto g = [&](int64_t r, int64_t s) { return double(w[((k * 3 + r) * 3 + s) * c_in + c]); };
      double gg[kPatch][3];
      for (int64_t i = 0; i < kPatch; ++i) {
        for (int64_t s = 0; s < 3; ++s) {
          gg[i][s] = kG[i][0] * g(0, s) + kG[i][1] * g(1, s) + kG[i][2] * g(2, s);
        }
      }
      for (int64_t i = 0; i < kPatch; ++i) {
        for (int64_t j = 0; j < kPatch; ++j) {
          double value = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];
          u[((i * kPatch + j) * c_in + c) * k_out + k] = static_cast<float>(value);
        }
      }
    }
  }
  return u;
}

Geometry geometry(const TensorView& src, const TensorView& w, const TensorView& dst,
                  const Attrs& a) {
  if (w.ndim() != 4 || w.shape()[1] != 3 || w.shape()[2] != 3 || a.stride_h != 1 ||
      a.stride_w != 1 || a.dil_h != 1 || a.dil_w != 1 || a.groups != 1) {
    TVM_FFI_THROW(ValueError) << "tvmforge Winograd kernel: 3x3 weights, stride 1, no dilation "
                                 "or groups";
  }
  Geometry g{src.shape()[1], src.shape()[2], src.shape()[3], w.shape()[0], dst.shape()[1],
             dst.shape()[2], a.pad_t, a.pad_l, 0, 0};
  if (g.c % kLanes != 0 || g.k % kLanes != 0 || w.shape()[3] != g.c || dst.shape()[3] != g.k) {
    TVM_FFI_THROW(ValueError) << "tvmforge Winograd kernel: channel counts must be multiples of "
                              << kLanes;
  }
  g.tiles_h = (g.oh + kTile - 1) / kTile;
  g.tiles_w = (g.ow + kTile - 1) / kTile;
  return g;
}

void run(TensorView src, TensorView w, TensorView bias, const TensorView* res, const Attrs& a,
         TensorView dst) {
  check_all({{&src, "input"}, {&w, "weight"}, {&bias, "bias"}, {&dst, "output"},
             {res, "residual"}});
  Geometry g = geometry(src, w, dst, a);
  int64_t tiles = g.tiles();
  Entry& e = cached(signature(kKernelKind, {&src, &w, &dst}, a), w.data_ptr(), false, [&] {
    auto entry = std::make_unique<Entry>();
    entry->src_md = memory::desc({kPoints, tiles, g.c}, memory::data_type::f32,
                                 memory::format_tag::abc);
    entry->dst_md = memory::desc({kPoints, tiles, g.k}, memory::data_type::f32,
                                 memory::format_tag::abc);
    memory::desc user_w({kPoints, g.c, g.k}, memory::data_type::f32, memory::format_tag::abc);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(cpu_engine(), entry->src_md, any_layout(user_w),
                                    entry->dst_md, attr);
    entry->prim = dnnl::matmul(pd);
    entry->scratch_md = pd.scratchpad_desc();
    auto& eng = cpu_engine();
    entry->weights = memory(pd.weights_desc(), eng);
    std::vector<float> u = transform_weights(static_cast<const float*>(w.data_ptr()), g.k, g.c);
    memory user(user_w, eng, u.data());
    dnnl::stream s(eng);
    dnnl::reorder(user, entry->weights).execute(s, user, entry->weights);
    s.wait();
    return entry;
  });
  float* v = thread_buffer(0, kPoints * tiles * g.c);
  float* m = thread_buffer(1, kPoints * tiles * g.k);
  const float* x = static_cast<const float*>(src.data_ptr());
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiles; ++t) transform_input_tile(x, g, t, v);
  execute(e, {{DNNL_ARG_SRC, e.src_md, v}, {DNNL_ARG_DST, e.dst_md, m}});
  Epilogue epi{static_cast<const float*>(bias.data_ptr()),
               res != nullptr ? static_cast<const float*>(res->data_ptr()) : nullptr, a.act,
               static_cast<float>(a.clip_min), static_cast<float>(a.clip_max)};
  float* y = static_cast<float*>(dst.data_ptr());
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiles; ++t) transform_output_tile(m, g, epi, t, y);
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd_conv2d, ConvEntryPoints<run>::conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd_conv2d_add, ConvEntryPoints<run>::conv2d_add);
