// oneDNN kernels with fused epilogues, callable from a Relax graph via call_dps_packed:
// 2-D convolution and transposed convolution (NHWC), dense layers (x @ W + b) and
// batched matrix products of two run-time tensors (attention's Q @ K^T and P @ V).
//
// Activations are NHWC (oneDNN picks its brgconv kernels for them), weights OHWI as TVM's
// ConvertLayout leaves them; the weights are reordered once into the primitive's preferred
// layout and cached with the primitive, keyed by shapes, attributes and the weights' identity
// (their address and a sample of their values: see weight_id in dnnl_common.h).
//
// Exported (tvm-ffi, outputs last):
//   tvmforge_dnnl_conv2d(src, weight, bias, attrs..., dst)
//   tvmforge_dnnl_conv2d_add(src, weight, bias, residual, attrs..., dst)
//     attrs: stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dilation_h,
//            dilation_w, groups, activation (0 none, 1 relu, 2 clip; + 4 when conv2d_add adds
//            the residual after it), clip (a float32 tensor of its min and max: a module
//            constant, where float scalars would cost the VM a call each per run).
//   tvmforge_dnnl_conv2d_transpose(src (NHWC), weight (IOHW), bias, stride_h, stride_w, pad_top,
//            pad_left, pad_bottom, pad_right, dilation_h, dilation_w, activation, clip,
//            dst (NHWC)); output padding is folded into pad_bottom/pad_right.
//   tvmforge_dnnl_dense(src (M, K), weight (K, N), bias (N), activation, clip, dst)
//   tvmforge_dnnl_batch_matmul(a (..., M, K), b (..., K, N), dst (..., M, N)); the leading
//            dims, equal in a and b, form one batch.

#include "dnnl_common.h"

namespace {

// NHWC tensor (N, H, W, C) described with oneDNN's logical NCHW dims.
memory::desc nhwc_desc(const TensorView& t) {
  auto d = dims_of(t);
  return memory::desc({d[0], d[3], d[1], d[2]}, memory::data_type::f32, memory::format_tag::nhwc);
}

memory::desc vector_desc(int64_t n) {
  return memory::desc({n}, memory::data_type::f32, memory::format_tag::a);
}

// OHWI weights (O, KH, KW, I/g) described with oneDNN's logical (g, O/g, I/g, KH, KW) dims.
memory::desc ohwi_desc(const TensorView& w, int64_t groups) {
  auto d = dims_of(w);
  int64_t o = d[0], kh = d[1], kw = d[2], i = d[3];
  if (groups == 1) {
    return memory::desc({o, i, kh, kw}, memory::data_type::f32,
                        memory::dims{kh * kw * i, 1, kw * i, i});
  }
  int64_t og = o / groups;
  return memory::desc({groups, og, i, kh, kw}, memory::data_type::f32,
                      memory::dims{og * kh * kw * i, kh * kw * i, 1, kw * i, i});
}

// IOHW weights (I, O, KH, KW) of a transposed convolution, with logical (O, I, KH, KW) dims.
memory::desc iohw_desc(const TensorView& w) {
  auto d = dims_of(w);
  int64_t i = d[0], o = d[1], kh = d[2], kw = d[3];
  return memory::desc({o, i, kh, kw}, memory::data_type::f32,
                      memory::dims{kh * kw, o * kh * kw, kw, 1});
}

// Run ``e`` (constant weights, a bias, maybe a residual) on ``src`` into ``dst``.
void execute(const Entry& e, const TensorView& src, const TensorView& bias,
             const TensorView* res, const TensorView& dst) {
  if (res == nullptr) {
    execute(e, {{DNNL_ARG_SRC, e.src_md, src.data_ptr()},
                {DNNL_ARG_BIAS, e.bias_md, bias.data_ptr()},
                {DNNL_ARG_DST, e.dst_md, dst.data_ptr()}});
  } else {
    execute(e, {{DNNL_ARG_SRC, e.src_md, src.data_ptr()},
                {DNNL_ARG_BIAS, e.bias_md, bias.data_ptr()},
                {DNNL_ARG_DST, e.dst_md, dst.data_ptr()},
                {e.res_arg, e.res_md, res->data_ptr()}});
  }
}

void run_conv(TensorView src, TensorView w, TensorView bias, const TensorView* res,
              const Attrs& a, TensorView dst) {
  check_all({{&src, "input"}, {&w, "weight"}, {&bias, "bias"}, {&dst, "output"},
             {res, "residual"}});
  auto sig = signature(0, {&src, &w, &dst}, a);
  Entry& e = cached(sig, &w, res != nullptr, [&] {
    auto entry = std::make_unique<Entry>();
    entry->src_md = nhwc_desc(src);
    entry->dst_md = nhwc_desc(dst);
    entry->bias_md = vector_desc(w.shape()[0]);
    if (res != nullptr) {
      entry->res_md = nhwc_desc(*res);
      entry->res_arg = residual_arg(a.act);
    }
    memory::desc user_w = ohwi_desc(w, a.groups);
    auto attr = epilogue(res != nullptr ? &entry->res_md : nullptr, a.act, a.clip_min, a.clip_max);
    dnnl::convolution_forward::primitive_desc pd(
        cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        entry->src_md, any_layout(user_w), entry->bias_md, entry->dst_md,
        {a.stride_h, a.stride_w}, {a.dil_h - 1, a.dil_w - 1}, {a.pad_t, a.pad_l},
        {a.pad_b, a.pad_r}, attr);
    finish<decltype(pd), dnnl::convolution_forward>(*entry, pd, user_w, w.data_ptr());
    return entry;
  });
  execute(e, src, bias, res, dst);
}

void conv2d_transpose(TensorView src, TensorView w, TensorView bias, int64_t sh, int64_t sw,
                      int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t dh, int64_t dw,
                      int64_t act, TensorView clip, TensorView dst) {
  check_all({{&src, "input"}, {&w, "weight"}, {&bias, "bias"}, {&dst, "output"}});
  Attrs a = make_attrs(sh, sw, pt, pl, pb, pr, dh, dw, 1, act, clip);
  auto sig = signature(1, {&src, &w, &dst}, a);
  Entry& e = cached(sig, &w, false, [&] {
    auto entry = std::make_unique<Entry>();
    entry->src_md = nhwc_desc(src);
    entry->dst_md = nhwc_desc(dst);
    entry->bias_md = vector_desc(w.shape()[1]);
    memory::desc user_w = iohw_desc(w);
    dnnl::deconvolution_forward::primitive_desc pd(
        cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
        entry->src_md, any_layout(user_w), entry->bias_md, entry->dst_md, {sh, sw},
        {dh - 1, dw - 1}, {pt, pl}, {pb, pr}, epilogue(nullptr, act, a.clip_min, a.clip_max));
    finish<decltype(pd), dnnl::deconvolution_forward>(*entry, pd, user_w, w.data_ptr());
    return entry;
  });
  execute(e, src, bias, nullptr, dst);
}

void dense(TensorView src, TensorView w, TensorView bias, int64_t act, TensorView clip,
           TensorView dst) {
  check_all({{&src, "input"}, {&w, "weight"}, {&bias, "bias"}, {&dst, "output"}});
  int64_t m = src.shape()[0], k = src.shape()[1], n = w.shape()[1];
  Attrs a = make_attrs(0, 0, 0, 0, 0, 0, 0, 0, 1, act, clip);
  auto sig = signature(2, {&src, &w}, a);
  Entry& e = cached(sig, &w, false, [&] {
    auto entry = std::make_unique<Entry>();
    entry->src_md = memory::desc({m, k}, memory::data_type::f32, memory::format_tag::ab);
    entry->dst_md = memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab);
    entry->bias_md = memory::desc({1, n}, memory::data_type::f32, memory::format_tag::ab);
    memory::desc user_w({k, n}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(cpu_engine(), entry->src_md, any_layout(user_w),
                                    entry->bias_md, entry->dst_md,
                                    epilogue(nullptr, act, a.clip_min, a.clip_max));
    finish<decltype(pd), dnnl::matmul>(*entry, pd, user_w, w.data_ptr());
    return entry;
  });
  execute(e, src, bias, nullptr, dst);
}

// (batch, rows, cols) of a row-major tensor whose leading dims form the batch.
memory::desc batched_desc(const TensorView& t) {
  int nd = t.ndim();
  int64_t rows = t.shape()[nd - 2], cols = t.shape()[nd - 1];
  int64_t batch = 1;
  for (int i = 0; i < nd - 2; ++i) batch *= t.shape()[i];
  return memory::desc({batch, rows, cols}, memory::data_type::f32, memory::format_tag::abc);
}

void batch_matmul(TensorView a, TensorView b, TensorView dst) {
  check_all({{&a, "left operand"}, {&b, "right operand"}, {&dst, "output"}});
  if (a.ndim() < 2 || b.ndim() != a.ndim() || dst.ndim() != a.ndim()) {
    TVM_FFI_THROW(ValueError) << "tvmforge oneDNN batch_matmul: operands of equal rank >= 2";
  }
  std::vector<int64_t> sig{3};
  for (auto* t : {&a, &b}) {
    for (auto v : dims_of(*t)) sig.push_back(v);
  }
  Entry& e = cached(sig, nullptr, false, [&] {
    auto entry = std::make_unique<Entry>();
    entry->src_md = batched_desc(a);
    entry->weights_md = batched_desc(b);
    entry->dst_md = batched_desc(dst);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc pd(cpu_engine(), entry->src_md, entry->weights_md,
                                    entry->dst_md, attr);
    entry->prim = dnnl::matmul(pd);
    entry->scratch_md = pd.scratchpad_desc();
    return entry;
  });
  execute(e, {{DNNL_ARG_SRC, e.src_md, a.data_ptr()},
              {DNNL_ARG_WEIGHTS, e.weights_md, b.data_ptr()},
              {DNNL_ARG_DST, e.dst_md, dst.data_ptr()}});
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_batch_matmul, batch_matmul);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_dense, dense);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_conv2d, ConvEntryPoints<run_conv>::conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_conv2d_add, ConvEntryPoints<run_conv>::conv2d_add);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_conv2d_transpose, conv2d_transpose);
