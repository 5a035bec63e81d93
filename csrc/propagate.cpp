// LightGCN propagation on a CSR adjacency: out = mean_{l=0..L} A^l x, fused over layers.
// Rows are split across threads by nnz (no atomics: each thread owns its output rows); the inner loop is a
// register tile over the feature dimension (64/32/16/8 wide, then a scalar tail), compiled for AVX-512,
// AVX2 and baseline x86-64 and chosen at run time. The backward pass is the same kernel on the transpose,
// which `csr_transpose` builds (counting sort, columns stay sorted).
#include <cstring>
#include <memory>

#include "arrays.h"

namespace mcdrec {
namespace {

// Rows of h are gathered in index order; prefetching the row this many entries ahead hides part of the
// L2/L3 latency of the gather (measured on Baby, d=64: ~10% per layer).
constexpr int64_t kPrefetch = 16;

template <typename I, typename T>
struct LayerArgs {
  const I* indptr;   // [n + 1]
  const I* indices;  // [nnz]
  const T* values;   // [nnz]
  const T* h;        // [n, d] input of this layer
  const T* x;        // [n, d] layer 0
  T* hn;             // [n, d] output of this layer (unused on the last layer)
  T* out;            // [n, d] running sum, scaled on the last layer
  int64_t d;
  T scale;      // 1 / (L + 1)
  int64_t nnz;  // indptr[n] (checked before the kernel runs)
  bool* bad;    // this thread's flag: set when the first layer meets a malformed row, which it then skips
};

// The first layer validates the structure as it reads it (row bounds within [0, nnz] and monotone, columns
// in [0, n) and strictly increasing), so a call costs no separate O(nnz) pass. A malformed row is skipped
// before any out-of-range read; the caller then reruns the serial check to name the first offending index.
template <typename I, typename T>
MCDREC_INLINE bool row_ok(const LayerArgs<I, T>& a, int64_t r, int64_t n) {
  const int64_t p0 = a.indptr[r], p1 = a.indptr[r + 1];
  if (p0 < 0 || p1 < p0 || p1 > a.nnz) return false;
  int64_t prev = -1;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t c = a.indices[p];
    if (c <= prev || c >= n) return false;
    prev = c;
  }
  return true;
}

// 32-byte GCC vector of T (8 floats / 4 doubles); explicit so the row tile stays in registers.
template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(32)));
  static constexpr int lanes = 32 / sizeof(T);
};
template <typename T>
MCDREC_INLINE typename Vec<T>::type vload(const T* p) {
  typename Vec<T>::type v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
MCDREC_INLINE void vstore(T* p, typename Vec<T>::type v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

// One row, columns [j0, j0 + W) (W a multiple of the vector width): accumulate the row's neighbours in
// registers, then fold into out (and store the layer output unless this is the last layer).
template <int W, bool FIRST, bool LAST, typename I, typename T>
MCDREC_INLINE void row_tile(const LayerArgs<I, T>& a, int64_t r, int64_t j0) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes, NV = W / L;
  static_assert(W % L == 0, "tile width must be a multiple of the vector width");
  V acc[NV];
  for (int k = 0; k < NV; ++k) acc[k] = V{};
  const int64_t d = a.d;
  for (int64_t p = a.indptr[r]; p < (int64_t)a.indptr[r + 1]; ++p) {
    if (p + kPrefetch < a.nnz) {  // the index may be unvalidated yet: a prefetch never faults
      const uintptr_t q = (uintptr_t)a.h + ((uintptr_t)a.indices[p + kPrefetch] * d + j0) * sizeof(T);
      for (int c = 0; c < (int)(W * sizeof(T)); c += 64) __builtin_prefetch((const void*)(q + c), 0, 3);
    }
    const V v = V{} + a.values[p];
    const T* src = a.h + (int64_t)a.indices[p] * d + j0;
    for (int k = 0; k < NV; ++k) acc[k] += v * vload(src + k * L);
  }
  const int64_t off = r * d + j0;
  for (int k = 0; k < NV; ++k) {
    if (!LAST) vstore(a.hn + off + k * L, acc[k]);
    const V prev = vload((FIRST ? a.x : a.out) + off + k * L);
    vstore(a.out + off + k * L, LAST ? (prev + acc[k]) * a.scale : prev + acc[k]);
  }
}

// The last w < 8 columns of a row, scalar.
template <bool FIRST, bool LAST, typename I, typename T>
MCDREC_INLINE void row_tail(const LayerArgs<I, T>& a, int64_t r, int64_t j0, int w) {
  T acc[8] = {};
  const int64_t d = a.d;
  for (int64_t p = a.indptr[r]; p < (int64_t)a.indptr[r + 1]; ++p) {
    const T v = a.values[p];
    const T* src = a.h + (int64_t)a.indices[p] * d + j0;
    for (int j = 0; j < w; ++j) acc[j] += v * src[j];
  }
  const int64_t off = r * d + j0;
  for (int j = 0; j < w; ++j) {
    if (!LAST) a.hn[off + j] = acc[j];
    const T prev = (FIRST ? a.x : a.out)[off + j];
    a.out[off + j] = LAST ? (prev + acc[j]) * a.scale : prev + acc[j];
  }
}

template <bool FIRST, bool LAST, typename I, typename T>
MCDREC_INLINE void layer_rows_body(const LayerArgs<I, T>& a, int64_t r0, int64_t r1, int64_t n) {
  const int64_t d = a.d;
  for (int64_t r = r0; r < r1; ++r) {
    if (FIRST && !row_ok(a, r, n)) {
      *a.bad = true;
      continue;
    }
    int64_t j0 = 0;
    for (; j0 + 64 <= d; j0 += 64) row_tile<64, FIRST, LAST>(a, r, j0);
    if (j0 + 32 <= d) { row_tile<32, FIRST, LAST>(a, r, j0); j0 += 32; }
    if (j0 + 16 <= d) { row_tile<16, FIRST, LAST>(a, r, j0); j0 += 16; }
    if (j0 + 8 <= d) { row_tile<8, FIRST, LAST>(a, r, j0); j0 += 8; }
    if (j0 < d) row_tail<FIRST, LAST>(a, r, j0, (int)(d - j0));
  }
}

template <bool FIRST, bool LAST, typename I, typename T>
void layer_rows_base(const LayerArgs<I, T>& a, int64_t r0, int64_t r1, int64_t n) {
  layer_rows_body<FIRST, LAST>(a, r0, r1, n);
}
template <bool FIRST, bool LAST, typename I, typename T>
MCDREC_TARGET_AVX2 void layer_rows_avx2(const LayerArgs<I, T>& a, int64_t r0, int64_t r1, int64_t n) {
  layer_rows_body<FIRST, LAST>(a, r0, r1, n);
}
template <bool FIRST, bool LAST, typename I, typename T>
MCDREC_TARGET_AVX512 void layer_rows_avx512(const LayerArgs<I, T>& a, int64_t r0, int64_t r1, int64_t n) {
  layer_rows_body<FIRST, LAST>(a, r0, r1, n);
}

template <typename I, typename T>
using RowsFn = void (*)(const LayerArgs<I, T>&, int64_t, int64_t, int64_t);

template <bool FIRST, bool LAST, typename I, typename T>
RowsFn<I, T> pick_level() {
  switch (cpu_level()) {
    case 2: return &layer_rows_avx512<FIRST, LAST, I, T>;
    case 1: return &layer_rows_avx2<FIRST, LAST, I, T>;
    default: return &layer_rows_base<FIRST, LAST, I, T>;
  }
}

template <typename I, typename T>
RowsFn<I, T> pick(bool first, bool last) {
  if (first) return last ? pick_level<true, true, I, T>() : pick_level<true, false, I, T>();
  return last ? pick_level<false, true, I, T>() : pick_level<false, false, I, T>();
}

// Intermediate layers live in per-thread scratch that grows and is kept between calls: a fresh n x d
// allocation per call costs more in page faults than the layer itself on graphs the size of Baby. Buffers
// above kKeepBytes are allocated per call instead, so a huge graph does not pin its buffers afterwards.
constexpr size_t kKeepBytes = size_t(64) << 20;

template <typename T>
class Scratch {
 public:
  Scratch(int which, size_t count) {
    if (count == 0) return;
    if (count * sizeof(T) > kKeepBytes) {
      owned_.reset(new T[count]);
      ptr_ = owned_.get();
      return;
    }
    thread_local std::vector<T> kept[2];
    if (kept[which].size() < count) kept[which].resize(count);
    ptr_ = kept[which].data();
  }
  T* get() const { return ptr_; }

 private:
  std::unique_ptr<T[]> owned_;
  T* ptr_ = nullptr;
};

// Returns false when the structure is malformed (found by the first layer; nothing past it ran).
template <typename I, typename T>
bool run_propagate(const I* indptr, const I* indices, const T* values, int64_t n, int64_t d, const T* x, T* out,
                   int64_t n_layers) {
  const int64_t nnz = indptr[n];
  if (n_layers == 0 || n == 0 || d == 0) {
    if (n * d) std::memcpy(out, x, sizeof(T) * n * d);
    return false;  // nothing was read: let the caller run the full check
  }
  // Ping-pong buffers for the intermediate layers; the last layer only folds into `out`.
  const Scratch<T> s0(0, n_layers >= 2 ? size_t(n * d) : 0), s1(1, n_layers >= 3 ? size_t(n * d) : 0);
  T* bufs[2] = {s0.get(), s1.get()};
  const int parts = std::max(1, max_threads());
  const std::vector<int64_t> bounds = split_by_nnz(indptr, n, parts);
  const T scale = T(1) / T(n_layers + 1);
  std::vector<char> bad_part(parts, 0);
  bool any_bad = false;
#ifdef MCDREC_OPENMP
#pragma omp parallel num_threads(parts)
#endif
  {
#ifdef MCDREC_OPENMP
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
#else
    const int tid = 0, nth = 1;
#endif
    bool bad = false;
    for (int64_t l = 1; l <= n_layers; ++l) {
      LayerArgs<I, T> a{indptr, indices, values, l == 1 ? x : bufs[l % 2], x, bufs[(l + 1) % 2], out, d, scale,
                        nnz, &bad};
      const RowsFn<I, T> fn = pick<I, T>(l == 1, l == n_layers);
      for (int part = tid; part < parts; part += nth) fn(a, bounds[part], bounds[part + 1], n);
      if (l == 1) bad_part[tid] = bad;
      if (l < n_layers) {
#ifdef MCDREC_OPENMP
#pragma omp barrier
#endif
        if (l == 1 && std::any_of(bad_part.begin(), bad_part.end(), [](char b) { return b != 0; })) break;
      }
    }
  }
  any_bad = std::any_of(bad_part.begin(), bad_part.end(), [](char b) { return b != 0; });
  return !any_bad;
}

// Shape and end-point checks of a square CSR matrix [n, n]; the per-entry checks run inside the first layer.
template <typename I>
void check_square_csr(const py::array& indptr, const py::array& indices, const py::array& values, int64_t n_cols) {
  const I* ip = view<I>(indptr, 1, "crow_indices");
  const I* ix = view<I>(indices, 1, "col_indices");
  const int64_t n_rows = indptr.shape(0) - 1;
  if (n_rows < 0) fail("crow_indices: expected at least one entry, got " + describe(indptr));
  if (values.ndim() != 1 || values.shape(0) != indices.shape(0))
    fail("values: expected shape (" + std::to_string(indices.shape(0)) + ",) like col_indices, got " +
         describe(values));
  if (n_rows != n_cols)
    fail("adjacency: expected a square matrix matching x, got " + std::to_string(n_rows) + " rows for x with " +
         std::to_string(n_cols) + " rows");
  const int64_t nnz = indices.shape(0);
  if (ip[0] != 0) fail("adjacency: indptr[0] must be 0, got " + std::to_string((int64_t)ip[0]));
  if ((int64_t)ip[n_rows] != nnz)
    fail("adjacency: indptr[-1] must equal nnz=" + std::to_string(nnz) + ", got " +
         std::to_string((int64_t)ip[n_rows]));
  (void)ix;
}

template <typename I, typename T>
void dispatch_value(py::array& indptr, py::array& indices, py::array& values, py::array& x, py::array& out,
                    int64_t n_layers) {
  const T* xv = view<T>(x, 2, "x");
  const T* vv = view<T>(values, 1, "values");
  T* ov = mutable_view<T>(out, 2, "out");
  const int64_t n = x.shape(0), d = x.shape(1);
  if (out.shape(0) != n || out.shape(1) != d) fail("out: expected shape " + shape_str(x) + ", got " + describe(out));
  check_square_csr<I>(indptr, indices, values, n);
  const I* ip = view<I>(indptr, 1, "crow_indices");
  const I* ix = view<I>(indices, 1, "col_indices");
  bool ok;
  {
    py::gil_scoped_release nogil;
    ok = run_propagate<I, T>(ip, ix, vv, n, d, xv, ov, n_layers);
  }
  if (!ok) {  // name the first offending index (serial check; raises)
    check_csr(ip, n, ix, (int64_t)indices.shape(0), n, true, "adjacency");
    if (n_layers > 0 && n > 0 && d > 0) fail("adjacency: malformed CSR structure");
  }
}

template <typename I>
void dispatch_index(py::array& indptr, py::array& indices, py::array& values, py::array& x, py::array& out,
                    int64_t n_layers) {
  if (is_dtype<float>(x)) return dispatch_value<I, float>(indptr, indices, values, x, out, n_layers);
  if (is_dtype<double>(x)) return dispatch_value<I, double>(indptr, indices, values, x, out, n_layers);
  fail("x: expected dtype float32 or float64, got " + describe(x));
}

void propagate_py(py::array indptr, py::array indices, py::array values, py::array x, py::array out,
                  int64_t n_layers) {
  if (n_layers < 0) fail("n_layers: must be >= 0, got " + std::to_string(n_layers));
  check_same_dtype(values, "values", x, "x");
  check_same_dtype(indices, "col_indices", indptr, "crow_indices");
  if (is_dtype<int32_t>(indptr)) return dispatch_index<int32_t>(indptr, indices, values, x, out, n_layers);
  if (is_dtype<int64_t>(indptr)) return dispatch_index<int64_t>(indptr, indices, values, x, out, n_layers);
  fail("crow_indices: expected dtype int32 or int64, got " + describe(indptr));
}

// Transpose of a CSR [n_rows, n_cols] by a counting sort over columns: rows of the result (the old
// columns) list the old rows in ascending order, so the result is sorted too.
template <typename I, typename T>
py::tuple transpose_typed(const py::array& indptr, const py::array& indices, const py::array& values,
                          int64_t n_cols) {
  const I* ip = view<I>(indptr, 1, "crow_indices");
  const I* ix = view<I>(indices, 1, "col_indices");
  const T* vv = view<T>(values, 1, "values");
  const int64_t n_rows = indptr.shape(0) - 1, nnz = indices.shape(0);
  if (n_rows < 0) fail("crow_indices: expected at least one entry, got " + describe(indptr));
  if (values.shape(0) != nnz)
    fail("values: expected shape (" + std::to_string(nnz) + ",) like col_indices, got " + describe(values));
  check_csr(ip, n_rows, ix, nnz, n_cols, false, "adjacency");
  py::array_t<I> t_indptr(n_cols + 1), t_indices(nnz);
  py::array_t<T> t_values(nnz);
  I* tp = t_indptr.mutable_data();
  I* tx = t_indices.mutable_data();
  T* tv = t_values.mutable_data();
  {
    py::gil_scoped_release nogil;
    std::fill(tp, tp + n_cols + 1, I(0));
    for (int64_t p = 0; p < nnz; ++p) tp[ix[p] + 1]++;
    for (int64_t c = 0; c < n_cols; ++c) tp[c + 1] += tp[c];
    std::vector<I> next(tp, tp + n_cols);
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t p = ip[r]; p < (int64_t)ip[r + 1]; ++p) {
        const I q = next[ix[p]]++;
        tx[q] = (I)r;
        tv[q] = vv[p];
      }
  }
  return py::make_tuple(t_indptr, t_indices, t_values);
}

py::tuple csr_transpose_py(py::array indptr, py::array indices, py::array values, int64_t n_cols) {
  if (n_cols < 0) fail("n_cols: must be >= 0, got " + std::to_string(n_cols));
  check_same_dtype(indices, "col_indices", indptr, "crow_indices");
  const bool i32 = is_dtype<int32_t>(indptr), i64 = is_dtype<int64_t>(indptr);
  if (!i32 && !i64) fail("crow_indices: expected dtype int32 or int64, got " + describe(indptr));
  if (is_dtype<float>(values))
    return i32 ? transpose_typed<int32_t, float>(indptr, indices, values, n_cols)
               : transpose_typed<int64_t, float>(indptr, indices, values, n_cols);
  if (is_dtype<double>(values))
    return i32 ? transpose_typed<int32_t, double>(indptr, indices, values, n_cols)
               : transpose_typed<int64_t, double>(indptr, indices, values, n_cols);
  fail("values: expected dtype float32 or float64, got " + describe(values));
}

}  // namespace

void register_propagate(py::module_& m) {
  m.def("propagate", &propagate_py, py::arg("crow_indices"), py::arg("col_indices"), py::arg("values"),
        py::arg("x"), py::arg("out"), py::arg("n_layers"),
        "out[:] = mean_{l=0..n_layers} A^l x for a square CSR A (int32/int64 indices, columns sorted per row; "
        "values and x float32 or float64, C-contiguous). Raises ValueError on malformed input.");
  m.def("csr_transpose", &csr_transpose_py, py::arg("crow_indices"), py::arg("col_indices"), py::arg("values"),
        py::arg("n_cols"), "CSR [n_rows, n_cols] -> CSR of the transpose (crow, col, values), columns sorted.");
}

}  // namespace mcdrec
