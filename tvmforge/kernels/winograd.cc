// 3x3 stride-1 convolutions by Winograd's minimal filtering F(m x m, 3x3): each m x m output
// tile comes from an (m+2) x (m+2) input patch with (m+2)^2 products per channel pair instead of
// 9 m^2. Two variants, each a library kernel of its own, measured per layer like the others:
//   F(4x4, 3x3) ("winograd"): 6x6 patches, 36 points, a quarter of a direct conv's products;
//   F(2x2, 3x3) ("winograd2"): 4x4 patches, 16 points, 2.25x fewer products; its transformed
//     weights are 16 values per channel pair against 36, and it makes 4x the tiles: better on
//     small maps with many channels, where the product is bound by reading the weights.
// Three steps per call:
//   1. input transform (here): V[p][t][c] = (B^T d B)[p] for every patch d of tile t;
//   2. one matrix product per point p: M[p] = V[p] (tiles x C) @ U[p] (C x K), by one oneDNN
//      batched matmul; U = G g G^T, the weights' transform, is computed once and cached;
//   3. output transform (here): y = A^T M A per tile, then the fused epilogue (bias, residual,
//      ReLU or clip) as the direct kernels do it.
// Activations are NHWC and the channel counts multiples of 16 (the transforms run 16 channels
// at a time; they are compiled for AVX-512, AVX2 and plain x86-64 and picked at load time).
// The transforms add rounding: about 1e-5 relative to the outputs' magnitude in float32.
//
// Exported (tvm-ffi, outputs last), with tvmforge_dnnl_conv2d[_add]'s signature:
//   tvmforge_winograd_conv2d(src, weight (OHWI, 3x3), bias, attrs..., dst)
//   tvmforge_winograd_conv2d_add(src, weight, bias, residual, attrs..., dst)
//   tvmforge_winograd2_conv2d, tvmforge_winograd2_conv2d_add: the same with F(2x2, 3x3)
//   tvmforge_winograd[2]_conv2d_concat(src, weight, bias, first (NHWC), attrs..., dst): the
//     channel concatenation of ``first`` and the convolution (no residual): SqueezeNet's fire
//     modules; the convolution's output is written in place, ``first`` copied beside it.

#include <omp.h>

#include <cstdlib>

#include "dnnl_common.h"
#include "lanes.h"

namespace {

// F(4x4, 3x3) with interpolation points 0, 1, -1, 2, -2 (and infinity).
struct F4 {
  static constexpr int64_t kTile = 4, kPatch = 6, kPoints = 36;
  static constexpr int64_t kKind = 4;  // the primitive cache's kind (see signature)
  static constexpr double kG[kPatch][3] = {
      {1 / 4., 0, 0},           {-1 / 6., -1 / 6., -1 / 6.}, {-1 / 6., 1 / 6., -1 / 6.},
      {1 / 24., 1 / 12., 1 / 6.}, {1 / 24., -1 / 12., 1 / 6.}, {0, 0, 1}};

  // B^T applied to six values (rows or columns of a patch).
  template <class T>
  static LANES_INLINE void input_step(const T (&d)[kPatch], T (&out)[kPatch]) {
    out[0] = 4 * d[0] - 5 * d[2] + d[4];
    out[1] = -4 * (d[1] + d[2]) + d[3] + d[4];
    out[2] = 4 * (d[1] - d[2]) - d[3] + d[4];
    out[3] = -2 * (d[1] - d[3]) - d[2] + d[4];
    out[4] = 2 * (d[1] - d[3]) - d[2] + d[4];
    out[5] = 4 * d[1] - 5 * d[3] + d[5];
  }

  // A^T applied to six values.
  template <class T>
  static LANES_INLINE void output_step(const T (&m)[kPatch], T (&out)[kTile]) {
    out[0] = m[0] + m[1] + m[2] + m[3] + m[4];
    out[1] = m[1] - m[2] + 2 * (m[3] - m[4]);
    out[2] = m[1] + m[2] + 4 * (m[3] + m[4]);
    out[3] = m[1] - m[2] + 8 * (m[3] - m[4]) + m[5];
  }
};

// F(2x2, 3x3) with interpolation points 0, 1, -1 (and infinity).
struct F2 {
  static constexpr int64_t kTile = 2, kPatch = 4, kPoints = 16;
  static constexpr int64_t kKind = 6;
  static constexpr double kG[kPatch][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};

  template <class T>
  static LANES_INLINE void input_step(const T (&d)[kPatch], T (&out)[kPatch]) {
    out[0] = d[0] - d[2];
    out[1] = d[1] + d[2];
    out[2] = d[2] - d[1];
    out[3] = d[1] - d[3];
  }

  template <class T>
  static LANES_INLINE void output_step(const T (&m)[kPatch], T (&out)[kTile]) {
    out[0] = m[0] + m[1] + m[2];
    out[1] = m[1] - m[2] - m[3];
  }
};

// Shapes of one convolution and its tiling.
struct Geometry {
  int64_t n, h, w, c, k, oh, ow, pad_t, pad_l, tiles_h, tiles_w;
  int64_t before;  // the output's channels before the convolution's (a concatenation's first)
  int64_t tiles() const { return n * tiles_h * tiles_w; }  // tiles of every image in the batch
  int64_t out_channels() const { return before + k; }
};

// Step 1 for tile ``t``, every input channel.
template <class S>
LANES_INLINE void input_tile(const float* x, const Geometry& g, int64_t t, float* v) {
  constexpr int64_t kTile = S::kTile, kPatch = S::kPatch;
  int64_t per_image = g.tiles_h * g.tiles_w, in_image = t % per_image;
  int64_t y0 = in_image / g.tiles_w * kTile - g.pad_t, x0 = in_image % g.tiles_w * kTile - g.pad_l;
  x += t / per_image * g.h * g.w * g.c;
  for (int64_t c = 0; c < g.c; c += kLanes) {
    Lanes rows[kPatch][kPatch];
    for (int64_t i = 0; i < kPatch; ++i) {
      Lanes col[kPatch], out[kPatch];
      for (int64_t j = 0; j < kPatch; ++j) {
        int64_t y = y0 + j, xx = x0 + i;
        bool inside = y >= 0 && y < g.h && xx >= 0 && xx < g.w;
        col[j] = inside ? load(x + (y * g.w + xx) * g.c + c) : Lanes{};
      }
      S::input_step(col, out);
      for (int64_t j = 0; j < kPatch; ++j) rows[j][i] = out[j];
    }
    for (int64_t i = 0; i < kPatch; ++i) {
      Lanes out[kPatch];
      S::input_step(rows[i], out);
      for (int64_t j = 0; j < kPatch; ++j) {
        store(v + ((i * kPatch + j) * g.tiles() + t) * g.c + c, out[j]);
      }
    }
  }
}

// Step 3 for tile ``t``: every output channel, with the epilogue; then, where the output
// concatenates ``first`` (g.before channels) before the convolution's, the tile's pixels of it.
template <class S>
LANES_INLINE void output_tile(const float* m, const Geometry& g, const Epilogue& e, int64_t t,
                              float* y, const float* first) {
  constexpr int64_t kTile = S::kTile, kPatch = S::kPatch;
  int64_t per_image = g.tiles_h * g.tiles_w, in_image = t % per_image;
  int64_t ty = in_image / g.tiles_w * kTile, tx = in_image % g.tiles_w * kTile;
  int64_t image = t / per_image * g.oh * g.ow;  // the image's first pixel
  int64_t stride = g.out_channels();
  y += image * stride;
  const float* residual = e.residual != nullptr ? e.residual + image * g.k : nullptr;
  for (int64_t k = 0; k < g.k; k += kLanes) {
    Lanes cols[kPatch][kTile];
    for (int64_t j = 0; j < kPatch; ++j) {
      Lanes col[kPatch], out[kTile];
      for (int64_t i = 0; i < kPatch; ++i) {
        col[i] = load(m + ((i * kPatch + j) * g.tiles() + t) * g.k + k);
      }
      S::output_step(col, out);
      for (int64_t i = 0; i < kTile; ++i) cols[j][i] = out[i];
    }
    for (int64_t i = 0; i < kTile && ty + i < g.oh; ++i) {
      Lanes row[kPatch], out[kTile];
      for (int64_t j = 0; j < kPatch; ++j) row[j] = cols[j][i];
      S::output_step(row, out);
      for (int64_t j = 0; j < kTile && tx + j < g.ow; ++j) {
        int64_t pixel = (ty + i) * g.ow + tx + j;
        const float* r = residual != nullptr ? residual + pixel * g.k + k : nullptr;
        store(y + pixel * stride + g.before + k, apply(e, out[j], k, r));
      }
    }
  }
  if (first == nullptr) return;
  first += image * g.before;
  for (int64_t i = ty; i < ty + kTile && i < g.oh; ++i) {
    for (int64_t j = tx; j < tx + kTile && j < g.ow; ++j) {
      for (int64_t c = 0; c < g.before; c += kLanes) {
        store(y + (i * g.ow + j) * stride + c, load(first + (i * g.ow + j) * g.before + c));
      }
    }
  }
}

// The transforms of each variant, compiled per instruction set (picked at load time).
LANES_CLONES void input_tile_f4(const float* x, const Geometry& g, int64_t t, float* v) {
  input_tile<F4>(x, g, t, v);
}
LANES_CLONES void input_tile_f2(const float* x, const Geometry& g, int64_t t, float* v) {
  input_tile<F2>(x, g, t, v);
}
LANES_CLONES void output_tile_f4(const float* m, const Geometry& g, const Epilogue& e,
                                  int64_t t, float* y, const float* first) {
  output_tile<F4>(m, g, e, t, y, first);
}
LANES_CLONES void output_tile_f2(const float* m, const Geometry& g, const Epilogue& e,
                                  int64_t t, float* y, const float* first) {
  output_tile<F2>(m, g, e, t, y, first);
}

using InputTile = void (*)(const float*, const Geometry&, int64_t, float*);
using OutputTile = void (*)(const float*, const Geometry&, const Epilogue&, int64_t, float*,
                            const float*);

// U = G g G^T per (output, input) channel pair, laid out (points, C, K).
template <class S>
std::vector<float> transform_weights(const float* w, int64_t k_out, int64_t c_in) {
  constexpr int64_t kPatch = S::kPatch;
  const auto& kG = S::kG;
  std::vector<float> u(S::kPoints * c_in * k_out);
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
                  const TensorView* first, const Attrs& a, int64_t tile) {
  if (w.ndim() != 4 || w.shape()[1] != 3 || w.shape()[2] != 3 || a.stride_h != 1 ||
      a.stride_w != 1 || a.dil_h != 1 || a.dil_w != 1 || a.groups != 1) {
    TVM_FFI_THROW(ValueError) << "tvmforge Winograd kernel: 3x3 weights, stride 1, no dilation "
                                 "or groups";
  }
  // clang-format off
  Geometry g{src.shape()[0], src.shape()[1], src.shape()[2], src.shape()[3], w.shape()[0],
             dst.shape()[1], dst.shape()[2], a.pad_t, a.pad_l, 0, 0,
             first != nullptr ? first->shape()[3] : 0};
  // clang-format on
  if (g.c % kLanes != 0 || g.k % kLanes != 0 || g.before % kLanes != 0 ||
      w.shape()[3] != g.c || dst.shape()[3] != g.out_channels()) {
    TVM_FFI_THROW(ValueError) << "tvmforge Winograd kernel: channel counts must be multiples of "
                              << kLanes;
  }
  if (first != nullptr && (first->ndim() != 4 || first->shape()[0] != g.n ||
                           first->shape()[1] != g.oh || first->shape()[2] != g.ow)) {
    TVM_FFI_THROW(ValueError) << "tvmforge Winograd kernel: the concatenated input must be NHWC "
                                 "of the output's batch, height and width";
  }
  g.tiles_h = (g.oh + tile - 1) / tile;
  g.tiles_w = (g.ow + tile - 1) / tile;
  return g;
}

// ``kConcat``: the fourth tensor (``extra``) is not a residual but the first operand of a
// concatenation along channels whose second is this convolution; ``dst`` holds both.
template <class S, InputTile kInput, OutputTile kOutput, bool kConcat>
void run(TensorView src, TensorView w, TensorView bias, const TensorView* extra, const Attrs& a,
         TensorView dst) {
  const TensorView* res = kConcat ? nullptr : extra;
  const TensorView* first = kConcat ? extra : nullptr;
  check_all({{&src, "input"}, {&w, "weight"}, {&bias, "bias"}, {&dst, "output"},
             {extra, kConcat ? "concatenated input" : "residual"}});
  constexpr int64_t kPoints = S::kPoints;
  Geometry g = geometry(src, w, dst, first, a, S::kTile);
  int64_t tiles = g.tiles();
  Entry& e = cached(signature(S::kKind, {&src, &w, &dst}, a), &w, false, [&] {
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
    std::vector<float> u =
        transform_weights<S>(static_cast<const float*>(w.data_ptr()), g.k, g.c);
    finish<decltype(pd), dnnl::matmul>(*entry, pd, user_w, u.data());
    return entry;
  });
  float* v = thread_buffer(0, kPoints * tiles * g.c);
  float* m = thread_buffer(1, kPoints * tiles * g.k);
  const float* x = static_cast<const float*>(src.data_ptr());
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiles; ++t) kInput(x, g, t, v);
  execute(e, {{DNNL_ARG_SRC, e.src_md, v}, {DNNL_ARG_DST, e.dst_md, m}});
  Epilogue epi = epilogue_of(bias, res, a);
  float* y = static_cast<float*>(dst.data_ptr());
  const float* before = first != nullptr ? static_cast<const float*>(first->data_ptr()) : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tiles; ++t) kOutput(m, g, epi, t, y, before);
}

using RunF4 = ConvEntryPoints<run<F4, input_tile_f4, output_tile_f4, false>>;
using RunF2 = ConvEntryPoints<run<F2, input_tile_f2, output_tile_f2, false>>;
// The concatenating variants take conv2d_add's signature, the fourth tensor being the first
// operand of the concatenation.
using ConcatF4 = ConvEntryPoints<run<F4, input_tile_f4, output_tile_f4, true>>;
using ConcatF2 = ConvEntryPoints<run<F2, input_tile_f2, output_tile_f2, true>>;

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd_conv2d, RunF4::conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd_conv2d_add, RunF4::conv2d_add);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd2_conv2d, RunF2::conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd2_conv2d_add, RunF2::conv2d_add);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd_conv2d_concat, ConcatF4::conv2d_add);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_winograd2_conv2d_concat, ConcatF2::conv2d_add);
