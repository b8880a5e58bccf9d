// TVM's parallel loops on oneDNN's OpenMP team, for artifacts that link oneDNN.
//
// TVM's compiled code runs a parallel loop through two function pointers the artifact holds,
// __TVMBackendParallelLaunch and __TVMBackendParallelBarrier, which TVM's loader points at its
// own thread pool. oneDNN runs its kernels on an OpenMP team. With both, every hand-over from a
// TVM kernel to a oneDNN one (and back) wakes the other pool's workers while the first pool's
// spin on the same cores. tvmforge_openmp_parallel(threads) points both at the OpenMP
// implementations below (what TVM itself does when built with USE_OPENMP), so every kernel of
// the artifact runs on the one OpenMP team, and sets that team's size for the calling thread.
//
// Exported (tvm-ffi): tvmforge_openmp_parallel(threads) -> whether the artifact has parallel
// loops to redirect.

#include <omp.h>
#include <tvm/ffi/function.h>

#include <cstdint>

namespace {

// TVM's TVMParallelGroupEnv and FTVMParallelLambda (tvm/runtime/c_backend_api.h).
struct ParallelGroupEnv {
  void* sync_handle;
  int32_t num_task;
};
using ParallelLambda = int (*)(int task_id, ParallelGroupEnv* penv, void* cdata);
using LaunchFn = int (*)(ParallelLambda, void*, int);
using BarrierFn = int (*)(int, ParallelGroupEnv*);

int openmp_launch(ParallelLambda flambda, void* cdata, int num_task) {
  int failed = 0;
#pragma omp parallel num_threads(num_task > 0 ? num_task : omp_get_max_threads())
  {
    ParallelGroupEnv env{nullptr, omp_get_num_threads()};
    if (flambda(omp_get_thread_num(), &env, cdata) != 0) {
#pragma omp atomic write
      failed = -1;
    }
  }
  return failed;
}

int openmp_barrier(int, ParallelGroupEnv*) {
#pragma omp barrier
  return 0;
}

}  // namespace

// Defined by TVM's LLVM code generator in the artifact's own object when it has parallel
// loops (weak: a module without any has neither).
extern "C" {
__attribute__((weak)) extern LaunchFn __TVMBackendParallelLaunch;
__attribute__((weak)) extern BarrierFn __TVMBackendParallelBarrier;
}

namespace {

bool openmp_parallel(int64_t threads) {
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  bool found = false;
  if (&__TVMBackendParallelLaunch != nullptr) {
    __TVMBackendParallelLaunch = openmp_launch;
    found = true;
  }
  if (&__TVMBackendParallelBarrier != nullptr) __TVMBackendParallelBarrier = openmp_barrier;
  return found;
}

}  // namespace

TVM_FFI_DLL_EXPORT_TYPED_FUNC(tvmforge_openmp_parallel, openmp_parallel);
