// Convolutions with a short reduction (kernel area x input channels: a network's first layer,
// on three channels) computed directly in registers. A block of output pixels of one row by up
// to 64 output channels (four vectors of 16) is accumulated over every (kernel row, kernel
// column, input channel) tap: one input value per pixel, broadcast, times the tap's weight
// vectors; 24 accumulators, so 6 pixels for 64 channels, 12 for 32. The fused epilogue is
// applied before the block is stored. Unlike im2col + matmul nothing is written but the output,
// and unlike oneDNN's direct kernels the vectors run over output channels, not over the three
// input channels.
//
// Activations are NHWC (or the input NCHW: a model's first layer reads the model's input without
// the transpose to NHWC), weights OHWI (repacked once into (taps, output channels), cached by
// weight_id), output channels a multiple of 16.
//
// Exported (tvm-ffi, outputs last), with tvmforge_dnnl_conv2d[_add]'s signature (groups 1):
//   tvmforge_shallow_conv2d(src (NHWC), weight (OHWI), bias, attrs..., dst (NHWC))
//   tvmforge_shallow_conv2d_add(src, weight, bias, residual, attrs..., dst)
//   tvmforge_shallow_conv2d_nchw[_add]: the same with src NCHW

#include <omp.h>

#include <algorithm>
#include <utility>

#include "dnnl_common.h"
#include "lanes.h"

namespace {

constexpr int kVectors = 4;        // output-channel vectors per block, at most
constexpr int kAccumulators = 24;  // vectors summed per block: with the weights', 28 registers

struct Shape {
  int64_t h, w, c, kh, kw, oh, ow, o;
  int64_t row_step, col_step, channel_step;  // the input's strides: NHWC or NCHW
  int64_t taps() const { return kh * kw * c; }
};

// One block: ``P`` pixels from ``ox0`` of output row ``oy`` (image ``x``, output ``y``),
// ``V`` vectors of output channels from ``o0``. ``kEdge``: some taps fall in the padding.
template <int V, int P, bool kEdge>
LANES_INLINE void block(const float* x, const float* wp, const Shape& s, const Attrs& a,
                        const Epilogue& e, int64_t oy, int64_t ox0, int64_t o0, float* y,
                        const float* residual) {
  Lanes acc[P][V] = {};  // the loops over P and V are unrolled so that these stay in registers
  for (int64_t i = 0; i < s.kh; ++i) {
    int64_t row = oy * a.stride_h - a.pad_t + i * a.dil_h;
    if (row < 0 || row >= s.h) continue;
    const float* line = x + row * s.row_step;
    for (int64_t j = 0; j < s.kw; ++j) {
      const float* at[P];
      bool inside[P];
      #pragma GCC unroll 24
      for (int p = 0; p < P; ++p) {
        int64_t col = (ox0 + p) * a.stride_w - a.pad_l + j * a.dil_w;
        inside[p] = !kEdge || (col >= 0 && col < s.w);
        at[p] = line + col * s.col_step;
      }
      const float* taps = wp + (i * s.kw + j) * s.c * s.o + o0;
      for (int64_t c = 0; c < s.c; ++c, taps += s.o) {
        Lanes wv[V];
        #pragma GCC unroll 24
        for (int v = 0; v < V; ++v) wv[v] = load(taps + v * kLanes);
        #pragma GCC unroll 24
        for (int p = 0; p < P; ++p) {
          if (!inside[p]) continue;
          Lanes xv = splat(at[p][c * s.channel_step]);
          #pragma GCC unroll 24
          for (int v = 0; v < V; ++v) acc[p][v] += xv * wv[v];
        }
      }
    }
  }
  #pragma GCC unroll 24
  for (int p = 0; p < P; ++p) {
    int64_t pixel = (oy * s.ow + ox0 + p) * s.o + o0;
    #pragma GCC unroll 24
    for (int v = 0; v < V; ++v) {
      int64_t k = v * kLanes;
      const float* r = residual != nullptr ? residual + pixel + k : nullptr;
      store(y + pixel + k, apply(e, acc[p][v], o0 + k, r));
    }
  }
}

// The first output pixel whose taps all fall inside the row, and the first past the last one.
std::pair<int64_t, int64_t> interior(const Shape& s, const Attrs& a) {
  int64_t first = (a.pad_l + a.stride_w - 1) / a.stride_w;
  int64_t reach = (s.kw - 1) * a.dil_w;  // the last tap's offset from the first
  int64_t end = (s.w - 1 - reach + a.pad_l) / a.stride_w + 1;
  if (s.w - 1 - reach + a.pad_l < 0) end = 0;
  end = std::min(end, s.ow);
  return {std::min(first, end), end};
}

// The interior pixels from ``ox`` to ``end`` in blocks of ``P``, then of P/2, P/4, ... (a single
// pixel's products form one chain of dependent FMAs: ragged ends stay in wide blocks).
template <int V, int P>
LANES_INLINE void interior_blocks(const float* x, const float* wp, const Shape& s,
                                  const Attrs& a, const Epilogue& e, int64_t oy, int64_t& ox,
                                  int64_t end, int64_t o0, float* y, const float* residual) {
  for (; ox + P <= end; ox += P) block<V, P, false>(x, wp, s, a, e, oy, ox, o0, y, residual);
  if constexpr (P > 1) {
    interior_blocks<V, P / 2>(x, wp, s, a, e, oy, ox, end, o0, y, residual);
  }
}

// Output row ``oy`` of one image for ``V`` vectors of output channels from ``o0``, in blocks of
// as many pixels as the accumulators allow (and single pixels where taps fall in the padding).
template <int V>
LANES_INLINE void row(const float* x, const float* wp, const Shape& s, const Attrs& a,
                      const Epilogue& e, int64_t oy, int64_t o0, float* y,
                      const float* residual) {
  auto [first, end] = interior(s, a);
  int64_t ox = 0;
  for (; ox < first; ++ox) block<V, 1, true>(x, wp, s, a, e, oy, ox, o0, y, residual);
  interior_blocks<V, kAccumulators / V>(x, wp, s, a, e, oy, ox, end, o0, y, residual);
  for (; ox < s.ow; ++ox) block<V, 1, true>(x, wp, s, a, e, oy, ox, o0, y, residual);
}

// Output row ``oy`` of one image, every output channel (compiled per instruction set).
LANES_CLONES void output_row(const float* x, const float* wp, const Shape& s, const Attrs& a,
                             const Epilogue& e, int64_t oy, float* y, const float* residual) {
  int64_t o0 = 0;
  for (; o0 + kVectors * kLanes <= s.o; o0 += kVectors * kLanes) {
    row<kVectors>(x, wp, s, a, e, oy, o0, y, residual);
  }
  switch ((s.o - o0) / kLanes) {
    case 3: row<3>(x, wp, s, a, e, oy, o0, y, residual); break;
    case 2: row<2>(x, wp, s, a, e, oy, o0, y, residual); break;
    case 1: row<1>(x, wp, s, a, e, oy, o0, y, residual); break;
    default: break;
  }
}

// OHWI weights (O, taps) transposed to (taps, O), once per weight tensor (see weight_id).
const std::vector<float>& packed(const TensorView& w, int64_t o, int64_t taps) {
  return memoized(weight_id(w), [&] {
    const float* from = static_cast<const float*>(w.data_ptr());
    auto to = std::make_unique<std::vector<float>>(o * taps);
    for (int64_t k = 0; k < o; ++k) {
      for (int64_t t = 0; t < taps; ++t) (*to)[t * o + k] = from[k * taps + t];
    }
    return to;
  });
}

// ``kNchw``: the input is NCHW (a model's own input, read without a transpose), else NHWC.
template <bool kNchw>
void run(TensorView src, TensorView w, TensorView bias, const TensorView* res, const Attrs& a,
         TensorView dst) {
  check_all({{&src, "input"}, {&w, "weight"}, {&bias, "bias"}, {&dst, "output"},
             {res, "residual"}});
  int64_t h = src.shape()[kNchw ? 2 : 1], w_in = src.shape()[kNchw ? 3 : 2];
  int64_t c = src.shape()[kNchw ? 1 : 3];
  // clang-format off
  Shape s{h, w_in, c, w.shape()[1], w.shape()[2], dst.shape()[1], dst.shape()[2], w.shape()[0],
          kNchw ? w_in : w_in * c, kNchw ? 1 : c, kNchw ? h * w_in : 1};
  // clang-format on
  if (a.groups != 1 || s.o % kLanes != 0 || w.shape()[3] != s.c) {
    TVM_FFI_THROW(ValueError) << "tvmforge shallow kernel: groups 1 and output channels a "
                                 "multiple of "
                              << kLanes;
  }
  const float* wp = packed(w, s.o, s.taps()).data();
  Epilogue e = epilogue_of(bias, res, a);
  const float* x = static_cast<const float*>(src.data_ptr());
  float* y = static_cast<float*>(dst.data_ptr());
  int64_t images = src.shape()[0], in_image = s.h * s.w * s.c, out_image = s.oh * s.ow * s.o;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < images * s.oh; ++r) {
    int64_t b = r / s.oh;
    const float* residual = e.residual != nullptr ? e.residual + b * out_image : nullptr;
    output_row(x + b * in_image, wp, s, a, e, r % s.oh, y + b * out_image, residual);
  }
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_shallow_conv2d, ConvEntryPoints<run<false>>::conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_shallow_conv2d_add,
                              ConvEntryPoints<run<false>>::conv2d_add);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_shallow_conv2d_nchw, ConvEntryPoints<run<true>>::conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_shallow_conv2d_nchw_add,
                              ConvEntryPoints<run<true>>::conv2d_add);
