// Zero-copy access to numpy views of torch tensors, with checks that name the argument, its shape and
// dtype; and the CPU feature probe the vectorised kernels dispatch on.
#pragma once
#include <algorithm>
#include <vector>

#include "common.h"

namespace mcdrec {

inline std::string describe(const py::array& a) {
  return "shape " + shape_str(a) + ", dtype " + std::string(py::str(a.dtype()));
}

// Raise unless `a` has the dtype of `ref`, naming both arguments.
inline void check_same_dtype(const py::array& a, const char* name, const py::array& ref, const char* ref_name) {
  if (!a.dtype().is(ref.dtype()))
    fail(std::string(name) + ": dtype must match " + ref_name + " (" + std::string(py::str(ref.dtype())) +
         "), got " + describe(a));
}

template <typename T>
inline bool is_dtype(const py::array& a) {
  return a.dtype().is(py::dtype::of<T>());
}

// Pointer to a C-contiguous array of element type T with `ndim` dimensions (no copy, no cast).
template <typename T>
const T* view(const py::array& a, int ndim, const char* name) {
  check_ndim(a, ndim, name);
  if (!is_dtype<T>(a))
    fail(std::string(name) + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) + ", got " + describe(a));
  if (!(a.flags() & py::array::c_style))
    fail(std::string(name) + ": expected a C-contiguous array, got " + describe(a) + " with strides not row-major");
  return static_cast<const T*>(a.data());
}

template <typename T>
T* mutable_view(py::array& a, int ndim, const char* name) {
  const T* p = view<T>(a, ndim, name);
  if (!a.writeable()) fail(std::string(name) + ": output array is read-only (" + describe(a) + ")");
  return const_cast<T*>(p);
}

inline void check_len(const py::array& a, int64_t n, const char* name, const char* like) {
  if (a.shape(0) != n)
    fail(std::string(name) + ": expected " + std::to_string(n) + " rows (" + like + "), got " + describe(a));
}

// Split rows [0, n_rows) into `parts` ranges of roughly equal nnz + rows (a row costs its entries plus a
// constant), so one thread does not get all the heavy rows of a power-law graph.
template <typename I>
std::vector<int64_t> split_by_nnz(const I* indptr, int64_t n_rows, int parts) {
  std::vector<int64_t> bounds(parts + 1, n_rows);
  bounds[0] = 0;
  const double total = (double)indptr[n_rows] + (double)n_rows;
  int64_t r = 0;
  for (int t = 1; t < parts; ++t) {
    const double target = total * t / parts;
    int64_t lo = r, hi = n_rows;  // first row whose prefix weight reaches target
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if ((double)indptr[mid] + (double)mid < target) lo = mid + 1; else hi = mid;
    }
    r = lo;
    bounds[t] = r;
  }
  return bounds;
}

// 0: baseline x86-64 (SSE2), 1: AVX2 + FMA, 2: AVX-512F.
inline int cpu_level() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const int level = __builtin_cpu_supports("avx512f") ? 2
                           : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
  return level;
#else
  return 0;
#endif
}

}  // namespace mcdrec

#if defined(__x86_64__) && defined(__GNUC__)
#define MCDREC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MCDREC_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define MCDREC_TARGET_AVX2
#define MCDREC_TARGET_AVX512
#endif
#define MCDREC_INLINE inline __attribute__((always_inline))
