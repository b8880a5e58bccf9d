// What tvmforge's oneDNN-backed kernels share: attributes, the primitive cache, the per-thread
// execution of a cached primitive, argument checks. Included by each kernel source; everything
// is internal to the including object (anonymous namespace).

#ifndef TVMFORGE_KERNELS_DNNL_COMMON_H_
#define TVMFORGE_KERNELS_DNNL_COMMON_H_

#include <dnnl.hpp>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/function.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
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

// A primitive with its weights reordered into the layout it prefers (constant weights), or
// with their description (weights given at run time).
struct Entry {
  dnnl::primitive prim;
  memory weights;
  memory::desc src_md, dst_md, bias_md, res_md, scratch_md, weights_md;
  int res_arg = 0;  // the residual's argument id, where there is one
};

// Operator kind, shapes and attributes; the weights' identity (see weight_id); whether a
// residual is added.
using Key = std::tuple<std::vector<int64_t>, std::vector<int64_t>, bool>;

inline dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

inline memory::dims dims_of(const TensorView& t) {
  memory::dims d;
  for (int i = 0; i < t.ndim(); ++i) d.push_back(t.shape()[i]);
  return d;
}

inline void check_f32(const TensorView& t, const char* what) {
  if (t.dtype().code != kDLFloat || t.dtype().bits != 32 || !t.IsContiguous()) {
    TVM_FFI_THROW(ValueError) << "tvmforge oneDNN kernel: " << what
                              << " must be contiguous float32";
  }
}

inline memory::desc any_layout(const memory::desc& md) {
  return memory::desc(md.get_dims(), memory::data_type::f32, memory::format_tag::any);
}

// Set in ``act`` when the residual is added after the activation, not before it.
constexpr int64_t kResidualLast = 4;

// oneDNN's argument id of the residual: the source of the first or the second post-op.
inline int residual_arg(int64_t act) {
  int index = (act & kResidualLast) ? 1 : 0;
  return DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1;
}

inline dnnl::primitive_attr epilogue(const memory::desc* res_md, int64_t act, double lo,
                                     double hi) {
  dnnl::post_ops ops;
  bool residual_last = act & kResidualLast;
  act &= ~kResidualLast;
  if (res_md != nullptr && !residual_last) ops.append_binary(dnnl::algorithm::binary_add, *res_md);
  if (act == 1) ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  if (act == 2) {
    ops.append_eltwise(dnnl::algorithm::eltwise_clip, static_cast<float>(lo),
                       static_cast<float>(hi));
  }
  if (res_md != nullptr && residual_last) ops.append_binary(dnnl::algorithm::binary_add, *res_md);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Finish ``e`` from a primitive descriptor: the primitive, its scratchpad and its weights
// (reordered once from ``weights``, laid out as ``user_w``).
template <class PrimitiveDesc, class Primitive>
void finish(Entry& e, const PrimitiveDesc& pd, const memory::desc& user_w, const void* weights) {
  auto& eng = cpu_engine();
  e.prim = Primitive(pd);
  e.scratch_md = pd.scratchpad_desc();
  e.weights = memory(pd.weights_desc(), eng);
  memory user(user_w, eng, const_cast<void*>(weights));
  dnnl::stream s(eng);
  dnnl::reorder(user, e.weights).execute(s, user, e.weights);
  s.wait();
}

// The value ``make`` (a unique_ptr) returned for ``key``, made on the first call with that key;
// one cache per call site (``Make`` is the caller's lambda), kept for the process's lifetime.
template <class K, class Make>
auto& memoized(K key, Make make) {
  static std::mutex mu;
  static std::map<K, decltype(make())> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(std::move(key), make()).first;
  return *it->second;
}

// Constant weights' identity in the caches: their address and 8 of their values, evenly spaced.
// A module's constants keep their address while it is loaded, but a model loaded after another
// was unloaded (a retrained model swapped in, same shapes) can get the same address; the sample
// tells the two apart without reading every weight on every call (8 independent loads).
inline std::vector<int64_t> weight_id(const TensorView& w) {
  constexpr int64_t kSample = 8;
  const uint32_t* bits = static_cast<const uint32_t*>(w.data_ptr());
  int64_t n = w.numel();
  std::vector<int64_t> id{reinterpret_cast<int64_t>(w.data_ptr()), n};
  for (int64_t i = 0; i < std::min(n, kSample); ++i) {
    id.push_back(bits[n <= kSample ? i : i * (n - 1) / (kSample - 1)]);
  }
  return id;
}

// The cached entry for ``sig`` and the constant weights ``w`` (null: run-time weights), made
// by ``make`` on first use.
template <class Make>
Entry& cached(std::vector<int64_t> sig, const TensorView* w, bool residual, Make make) {
  Key key{std::move(sig), w != nullptr ? weight_id(*w) : std::vector<int64_t>{}, residual};
  return memoized(std::move(key), make);
}

inline std::vector<int64_t> signature(int64_t kind,
                                      std::initializer_list<const TensorView*> tensors,
                                      const Attrs& a) {
  std::vector<int64_t> sig{kind};
  for (auto* t : tensors) {
    for (auto v : dims_of(*t)) sig.push_back(v);
  }
  for (auto v : {a.stride_h, a.stride_w, a.pad_t, a.pad_l, a.pad_b, a.pad_r, a.dil_h, a.dil_w,
                 a.groups, a.act}) {
    sig.push_back(v);
  }
  sig.push_back(static_cast<int64_t>(a.clip_min * 1e6));
  sig.push_back(static_cast<int64_t>(a.clip_max * 1e6));
  return sig;
}

// A run-time argument: its oneDNN argument id, its description in the entry, its data.
struct Arg {
  int id;
  const memory::desc& md;
  void* data;
};

// Run ``e`` on the calling thread's stream with ``args`` (and the entry's constant weights, if
// any) and the thread's scratchpad. Each thread makes its memory objects for an entry once and
// then only points them at the run's tensors: making them per run cost about 2 us a call, most
// of a small convolution's time.
inline void execute(const Entry& e, std::initializer_list<Arg> args) {
  auto& eng = cpu_engine();
  thread_local dnnl::stream stream(eng);
  thread_local std::vector<uint8_t> scratch;
  thread_local std::unordered_map<const Entry*, std::unordered_map<int, memory>> bound;
  auto [it, fresh] = bound.try_emplace(&e);
  auto& memories = it->second;
  if (fresh) {
    for (const Arg& a : args) memories.emplace(a.id, memory(a.md, eng, a.data));
    if (e.weights) memories.emplace(DNNL_ARG_WEIGHTS, e.weights);
    memories.emplace(DNNL_ARG_SCRATCHPAD, memory(e.scratch_md, eng, nullptr));
  } else {
    for (const Arg& a : args) memories.at(a.id).set_data_handle(a.data);
  }
  if (scratch.size() < e.scratch_md.get_size()) scratch.resize(e.scratch_md.get_size());
  memories.at(DNNL_ARG_SCRATCHPAD).set_data_handle(scratch.data());
  e.prim.execute(stream, memories);
  stream.wait();
}

inline void check_all(std::initializer_list<std::pair<const TensorView*, const char*>> tensors) {
  for (auto& [t, what] : tensors) {
    if (t != nullptr) check_f32(*t, what);
  }
}

inline Attrs make_attrs(int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                 int64_t dh, int64_t dw, int64_t groups, int64_t act, const TensorView& clip) {
  check_f32(clip, "clip bounds");
  if (clip.numel() != 2) TVM_FFI_THROW(ValueError) << "tvmforge oneDNN kernel: 2 clip bounds";
  const float* bounds = static_cast<const float*>(clip.data_ptr());
  return Attrs{sh, sw, pt, pl, pb, pr, dh, dw, groups, act, bounds[0], bounds[1]};
}

// A float buffer of the calling thread that only grows, 64-byte aligned.
// Slots: 0 and 1 (a kernel's first and second buffer).
inline float* thread_buffer(int slot, int64_t floats) {
  struct Buffer {
    float* data = nullptr;
    int64_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[2];
  Buffer& b = buffers[slot];
  if (b.size < floats) {
    std::free(b.data);
    b.data = static_cast<float*>(std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64));
    b.size = floats;
  }
  return b.data;
}

// The two entry points of a convolution kernel whose body is ``Run``: without and with a
// residual, with the attribute arguments of the exported signature (see dnnl_kernels.cc).
using ConvBody = void (*)(TensorView src, TensorView w, TensorView bias, const TensorView* res,
                          const Attrs& a, TensorView dst);

template <ConvBody Run>
struct ConvEntryPoints {
  static void conv2d(TensorView src, TensorView w, TensorView bias, int64_t sh, int64_t sw,
                     int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t dh, int64_t dw,
                     int64_t groups, int64_t act, TensorView clip, TensorView dst) {
    Run(src, w, bias, nullptr, make_attrs(sh, sw, pt, pl, pb, pr, dh, dw, groups, act, clip),
        dst);
  }
  static void conv2d_add(TensorView src, TensorView w, TensorView bias, TensorView res,
                         int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                         int64_t dh, int64_t dw, int64_t groups, int64_t act, TensorView clip,
                         TensorView dst) {
    Run(src, w, bias, &res, make_attrs(sh, sw, pt, pl, pb, pr, dh, dw, groups, act, clip), dst);
  }
};

}  // namespace

#endif  // TVMFORGE_KERNELS_DNNL_COMMON_H_
