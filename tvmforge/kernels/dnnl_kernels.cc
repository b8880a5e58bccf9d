// oneDNN kernels with fused epilogues, callable from a Relax graph via call_dps_packed:
// 2-D convolution (NHWC) and dense layers (x @ W + b, W constant).
//
// Activations are NHWC (oneDNN picks its brgconv kernels for them), weights OHWI as TVM's
// ConvertLayout leaves them; the weights are reordered once into the primitive's preferred
// layout and cached with the primitive, keyed by shapes, attributes and the weight pointer
// (weights are module constants, so the pointer is stable for the module's lifetime).
//
// Exported (tvm-ffi, outputs last):
//   tvmforge_dnnl_conv2d(src, weight, bias, attrs..., dst)
//   tvmforge_dnnl_conv2d_add(src, weight, bias, residual, attrs..., dst)
//     attrs: stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dilation_h,
//            dilation_w, groups, activation (0 none, 1 relu, 2 clip), clip_min, clip_max.
//   tvmforge_dnnl_dense(src (M, K), weight (K, N), bias (N), activation, clip_min, clip_max, dst)

#include <dnnl.hpp>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tvm::ffi::TensorView;

struct Attrs {
  int64_t stride_h, stride_w, pad_t, pad_l, pad_b, pad_r, dil_h, dil_w, groups, act;
  double clip_min, clip_max;
};

struct Entry {
  dnnl::convolution_forward prim;
  dnnl::convolution_forward::primitive_desc pd;
  memory weights;  // reordered into pd.weights_desc()
  memory::desc src_md, dst_md, bias_md, res_md;
  size_t scratchpad_bytes;
};

using Key = std::tuple<std::vector<int64_t>, const void*, bool>;

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

memory::dims dims_of(const TensorView& t) {
  memory::dims d;
  for (int i = 0; i < t.ndim(); ++i) d.push_back(t.shape()[i]);
  return d;
}

void check_f32(const TensorView& t, const char* what) {
  if (t.dtype().code != kDLFloat || t.dtype().bits != 32 || !t.IsContiguous()) {
    TVM_FFI_THROW(ValueError) << "tvmforge_dnnl_conv2d: " << what << " must be contiguous float32";
  }
}

// NHWC tensor (N, H, W, C) described with oneDNN's logical NCHW dims.
memory::desc nhwc_desc(const TensorView& t) {
  auto d = dims_of(t);
  return memory::desc({d[0], d[3], d[1], d[2]}, memory::data_type::f32, memory::format_tag::nhwc);
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

void append_activation(dnnl::post_ops& ops, int64_t act, double lo, double hi) {
  if (act == 1) ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  if (act == 2) {
    ops.append_eltwise(dnnl::algorithm::eltwise_clip, static_cast<float>(lo),
                       static_cast<float>(hi));
  }
}

std::unique_ptr<Entry> create(const TensorView& src, const TensorView& w, const TensorView* res,
                              const TensorView& dst, const Attrs& a) {
  auto& eng = cpu_engine();
  auto entry = std::make_unique<Entry>();
  entry->src_md = nhwc_desc(src);
  entry->dst_md = nhwc_desc(dst);
  entry->bias_md = memory::desc({w.shape()[0]}, memory::data_type::f32, memory::format_tag::a);
  memory::desc user_w = ohwi_desc(w, a.groups);
  memory::desc any_w(user_w.get_dims(), memory::data_type::f32, memory::format_tag::any);

  dnnl::post_ops ops;
  if (res != nullptr) {
    entry->res_md = nhwc_desc(*res);
    ops.append_binary(dnnl::algorithm::binary_add, entry->res_md);
  }
  append_activation(ops, a.act, a.clip_min, a.clip_max);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

  entry->pd = dnnl::convolution_forward::primitive_desc(
      eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
      entry->src_md, any_w, entry->bias_md, entry->dst_md, {a.stride_h, a.stride_w},
      {a.dil_h - 1, a.dil_w - 1}, {a.pad_t, a.pad_l}, {a.pad_b, a.pad_r}, attr);
  entry->prim = dnnl::convolution_forward(entry->pd);
  entry->scratchpad_bytes = entry->pd.scratchpad_desc().get_size();

  entry->weights = memory(entry->pd.weights_desc(), eng);
  memory user(user_w, eng, w.data_ptr());
  dnnl::stream s(eng);
  dnnl::reorder(user, entry->weights).execute(s, user, entry->weights);
  s.wait();
  return entry;
}

Entry& lookup(const TensorView& src, const TensorView& w, const TensorView* res,
              const TensorView& dst, const Attrs& a) {
  static std::mutex mu;
  static std::map<Key, std::unique_ptr<Entry>> cache;
  std::vector<int64_t> sig = dims_of(src);
  for (auto v : dims_of(w)) sig.push_back(v);
  for (auto v : dims_of(dst)) sig.push_back(v);
  for (auto v : {a.stride_h, a.stride_w, a.pad_t, a.pad_l, a.pad_b, a.pad_r, a.dil_h, a.dil_w,
                 a.groups, a.act}) {
    sig.push_back(v);
  }
  sig.push_back(static_cast<int64_t>(a.clip_min * 1e6));
  sig.push_back(static_cast<int64_t>(a.clip_max * 1e6));
  Key key{sig, w.data_ptr(), res != nullptr};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, create(src, w, res, dst, a)).first;
  return *it->second;
}

void run(TensorView src, TensorView w, TensorView bias, const TensorView* res, const Attrs& a,
         TensorView dst) {
  check_f32(src, "input");
  check_f32(w, "weight");
  check_f32(bias, "bias");
  check_f32(dst, "output");
  if (res != nullptr) check_f32(*res, "residual");
  Entry& e = lookup(src, w, res, dst, a);
  auto& eng = cpu_engine();
  thread_local dnnl::stream stream(eng);
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < e.scratchpad_bytes) scratch.resize(e.scratchpad_bytes);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(e.src_md, eng, src.data_ptr())},
      {DNNL_ARG_WEIGHTS, e.weights},
      {DNNL_ARG_BIAS, memory(e.bias_md, eng, bias.data_ptr())},
      {DNNL_ARG_DST, memory(e.dst_md, eng, dst.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, memory(e.pd.scratchpad_desc(), eng, scratch.data())},
  };
  if (res != nullptr) {
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                 memory(e.res_md, eng, res->data_ptr()));
  }
  e.prim.execute(stream, args);
  stream.wait();
}

Attrs make_attrs(int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                 int64_t dh, int64_t dw, int64_t groups, int64_t act, double lo, double hi) {
  return Attrs{sh, sw, pt, pl, pb, pr, dh, dw, groups, act, lo, hi};
}

void conv2d(TensorView src, TensorView w, TensorView bias, int64_t sh, int64_t sw, int64_t pt,
            int64_t pl, int64_t pb, int64_t pr, int64_t dh, int64_t dw, int64_t groups,
            int64_t act, double lo, double hi, TensorView dst) {
  run(src, w, bias, nullptr, make_attrs(sh, sw, pt, pl, pb, pr, dh, dw, groups, act, lo, hi), dst);
}

void conv2d_add(TensorView src, TensorView w, TensorView bias, TensorView res, int64_t sh,
                int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t dh,
                int64_t dw, int64_t groups, int64_t act, double lo, double hi, TensorView dst) {
  run(src, w, bias, &res, make_attrs(sh, sw, pt, pl, pb, pr, dh, dw, groups, act, lo, hi), dst);
}

struct DenseEntry {
  dnnl::matmul prim;
  dnnl::matmul::primitive_desc pd;
  memory weights;
  memory::desc src_md, dst_md, bias_md;
  size_t scratchpad_bytes;
};

DenseEntry& dense_lookup(const TensorView& src, const TensorView& w, int64_t act, double lo,
                         double hi) {
  static std::mutex mu;
  static std::map<Key, std::unique_ptr<DenseEntry>> cache;
  int64_t m = src.shape()[0], k = src.shape()[1], n = w.shape()[1];
  Key key{{m, k, n, act, static_cast<int64_t>(lo * 1e6), static_cast<int64_t>(hi * 1e6)},
          w.data_ptr(), false};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto& eng = cpu_engine();
  auto e = std::make_unique<DenseEntry>();
  e->src_md = memory::desc({m, k}, memory::data_type::f32, memory::format_tag::ab);
  e->dst_md = memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab);
  e->bias_md = memory::desc({1, n}, memory::data_type::f32, memory::format_tag::ab);
  memory::desc user_w({k, n}, memory::data_type::f32, memory::format_tag::ab);
  memory::desc any_w({k, n}, memory::data_type::f32, memory::format_tag::any);
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  append_activation(ops, act, lo, hi);
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  e->pd = dnnl::matmul::primitive_desc(eng, e->src_md, any_w, e->bias_md, e->dst_md, attr);
  e->prim = dnnl::matmul(e->pd);
  e->scratchpad_bytes = e->pd.scratchpad_desc().get_size();
  e->weights = memory(e->pd.weights_desc(), eng);
  memory user(user_w, eng, w.data_ptr());
  dnnl::stream s(eng);
  dnnl::reorder(user, e->weights).execute(s, user, e->weights);
  s.wait();
  return *cache.emplace(key, std::move(e)).first->second;
}

void dense(TensorView src, TensorView w, TensorView bias, int64_t act, double lo, double hi,
           TensorView dst) {
  check_f32(src, "input");
  check_f32(w, "weight");
  check_f32(bias, "bias");
  check_f32(dst, "output");
  DenseEntry& e = dense_lookup(src, w, act, lo, hi);
  auto& eng = cpu_engine();
  thread_local dnnl::stream stream(eng);
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < e.scratchpad_bytes) scratch.resize(e.scratchpad_bytes);
  e.prim.execute(stream, {{DNNL_ARG_SRC, memory(e.src_md, eng, src.data_ptr())},
                          {DNNL_ARG_WEIGHTS, e.weights},
                          {DNNL_ARG_BIAS, memory(e.bias_md, eng, bias.data_ptr())},
                          {DNNL_ARG_DST, memory(e.dst_md, eng, dst.data_ptr())},
                          {DNNL_ARG_SCRATCHPAD,
                           memory(e.pd.scratchpad_desc(), eng, scratch.data())}});
  stream.wait();
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_dense, dense);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_conv2d, conv2d);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_dnnl_conv2d_add, conv2d_add);
