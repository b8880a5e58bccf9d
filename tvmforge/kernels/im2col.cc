// Convolutions with a short reduction (few input channels: a network's first layer) as one
// matrix product: the input's patches are copied into rows (im2col), then one oneDNN matmul
// (rows x KH*KW*C) @ (KH*KW*C x O) writes the NHWC output with the direct kernels' fused
// epilogue. Direct kernels vectorize over input channels and idle most lanes on three of them;
// the product vectorizes over output channels instead.
//
// Exported (tvm-ffi, outputs last), with tvmforge_dnnl_conv2d[_add]'s signature (groups 1):
//   tvmforge_im2col_conv2d(src (NHWC), weight (OHWI), bias, attrs..., dst (NHWC))
//   tvmforge_im2col_conv2d_add(src, weight, bias, residual, attrs..., dst)

#include <omp.h>

#include "dnnl_common.h"

namespace {

constexpr int64_t kKernelKind = 5;  // the primitive cache's kind (see signature)

struct Patches {
  int64_t n, h, w, c, kh, kw, oh, ow;
  int64_t rows() const { return n * oh * ow; }
  int64_t depth() const { return kh * kw * c; }  // one row's length
};

// ``n`` floats from ``from`` (null: zeros) to ``to``; short runs, so a plain loop, not memcpy.
inline void copy_run(const float* from, int64_t n, float* to) {
  for (int64_t q = 0; q < n; ++q) to[q] = from != nullptr ? from[q] : 0.f;
}

// Copy every output pixel's receptive field (zeros where it falls in the padding) into a row.
// Without dilation, a kernel row inside the image is one contiguous run of KW*C floats.
void im2col(const float* x, const Patches& p, const Attrs& a, float* cols) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < p.n * p.oh; ++r) {
    int64_t b = r / p.oh, oy = r % p.oh;
    for (int64_t ox = 0; ox < p.ow; ++ox) {
      float* row = cols + (r * p.ow + ox) * p.depth();
      int64_t x0 = ox * a.stride_w - a.pad_l;
      bool whole_rows = a.dil_w == 1 && x0 >= 0 && x0 + p.kw <= p.w;
      for (int64_t i = 0; i < p.kh; ++i, row += p.kw * p.c) {
        int64_t y = oy * a.stride_h - a.pad_t + i * a.dil_h;
        const float* line = x + (b * p.h + y) * p.w * p.c;
        if (y < 0 || y >= p.h) {
          copy_run(nullptr, p.kw * p.c, row);
        } else if (whole_rows) {
          copy_run(line + x0 * p.c, p.kw * p.c, row);
        } else {
          for (int64_t j = 0; j < p.kw; ++j) {
            int64_t xx = x0 + j * a.dil_w;
            copy_run(xx >= 0 && xx < p.w ? line + xx * p.c : nullptr, p.c, row + j * p.c);
          }
        }
      }
    }
  }
}

void run(TensorView src, TensorView w, TensorView bias, const TensorView* res, const Attrs& a,
         TensorView dst) {
  check_all({{&src, "input"}, {&w, "weight"}, {&bias, "bias"}, {&dst, "output"},
             {res, "residual"}});
  if (a.groups != 1) TVM_FFI_THROW(ValueError) << "tvmforge im2col kernel: groups must be 1";
  Patches p{src.shape()[0], src.shape()[1], src.shape()[2], src.shape()[3],
            w.shape()[1],   w.shape()[2],   dst.shape()[1], dst.shape()[2]};
  int64_t out_channels = w.shape()[0];
  auto sig = signature(kKernelKind, {&src, &w, &dst}, a);
  Entry& e = cached(sig, &w, res != nullptr, [&] {
    auto entry = std::make_unique<Entry>();
    auto f32 = memory::data_type::f32;
    entry->src_md = memory::desc({p.rows(), p.depth()}, f32, memory::format_tag::ab);
    entry->dst_md = memory::desc({p.rows(), out_channels}, f32, memory::format_tag::ab);
    entry->bias_md = memory::desc({1, out_channels}, f32, memory::format_tag::ab);
    if (res != nullptr) {
      entry->res_md = entry->dst_md;
      entry->res_arg = residual_arg(a.act);
    }
    // OHWI weights are (O, KH*KW*C) row-major: the (KH*KW*C, O) operand, transposed.
    memory::desc user_w({p.depth(), out_channels}, f32, memory::format_tag::ba);
    auto attr = epilogue(res != nullptr ? &entry->res_md : nullptr, a.act, a.clip_min, a.clip_max);
    dnnl::matmul::primitive_desc pd(cpu_engine(), entry->src_md, any_layout(user_w),
                                    entry->bias_md, entry->dst_md, attr);
    finish<decltype(pd), dnnl::matmul>(*entry, pd, user_w, w.data_ptr());
    return entry;
  });
  float* cols = thread_buffer(0, p.rows() * p.depth());
  im2col(static_cast<const float*>(src.data_ptr()), p, a, cols);
  if (res == nullptr) {
    execute(e, {{DNNL_ARG_SRC, e.src_md, cols},
                {DNNL_ARG_BIAS, e.bias_md, bias.data_ptr()},
                {DNNL_ARG_DST, e.dst_md, dst.data_ptr()}});
  } else {
    execute(e, {{DNNL_ARG_SRC, e.src_md, cols},
                {DNNL_ARG_BIAS, e.bias_md, bias.data_ptr()},
                {DNNL_ARG_DST, e.dst_md, dst.data_ptr()},
                {e.res_arg, e.res_md, res->data_ptr()}});
  }
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_im2col_conv2d, ConvEntryPoints<run>::conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_im2col_conv2d_add, ConvEntryPoints<run>::conv2d_add);
