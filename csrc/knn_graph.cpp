// kNN item-item graph: running top-m selection over similarity tiles, exact float64 rescoring of the
// candidates, and FREEDOM's normalised kNN adjacency. The similarity tiles themselves come from BLAS
// (float32) in Python; nothing here ever holds more than one tile and the per-row candidates.
// Order everywhere: similarity descending, ties to the lower column index.
#include <cmath>

#include "arrays.h"

namespace mcdrec {
namespace {

// Merge the columns of one tile row (sim [c], global columns col0..col0+c) into a sorted top list of m.
// Columns arrive in ascending order, so an equal similarity never displaces an earlier (lower) column.
template <typename T>
MCDREC_INLINE void merge_row(const T* sim, int64_t c, int64_t col0, int64_t* idx, T* top, int64_t m) {
  T thr = top[m - 1];
  for (int64_t j = 0; j < c; ++j) {
    const T s = sim[j];
    if (!(s > thr)) continue;
    int64_t pos = m - 1;
    while (pos > 0 && top[pos - 1] < s) {
      top[pos] = top[pos - 1];
      idx[pos] = idx[pos - 1];
      --pos;
    }
    top[pos] = s;
    idx[pos] = col0 + j;
    thr = top[m - 1];
  }
}

template <typename T>
void topk_update_typed(const py::array& sim, int64_t col0, py::array& top_idx, py::array& top_sim) {
  const T* s = view<T>(sim, 2, "sim");  // [b, c]
  int64_t* ix = mutable_view<int64_t>(top_idx, 2, "top_idx");  // [b, m]
  T* ts = mutable_view<T>(top_sim, 2, "top_sim");  // [b, m]
  const int64_t b = sim.shape(0), c = sim.shape(1), m = top_idx.shape(1);
  if (top_idx.shape(0) != b || top_sim.shape(0) != b || top_sim.shape(1) != m)
    fail("top_idx/top_sim: expected shape (" + std::to_string(b) + ", m) each, got " + describe(top_idx) + " and " +
         describe(top_sim));
  if (m < 1) fail("top_idx: expected m >= 1 columns, got " + describe(top_idx));
  if (col0 < 0) fail("col0: must be >= 0, got " + std::to_string(col0));
  py::gil_scoped_release nogil;
#ifdef MCDREC_OPENMP
#pragma omp parallel for schedule(static)
#endif
  for (int64_t r = 0; r < b; ++r) merge_row(s + r * c, c, col0, ix + r * m, ts + r * m, m);
}

void topk_update_py(py::array sim, int64_t col0, py::array top_idx, py::array top_sim) {
  check_same_dtype(top_sim, "top_sim", sim, "sim");
  if (is_dtype<float>(sim)) return topk_update_typed<float>(sim, col0, top_idx, top_sim);
  if (is_dtype<double>(sim)) return topk_update_typed<double>(sim, col0, top_idx, top_sim);
  fail("sim: expected dtype float32 or float64, got " + describe(sim));
}

// Rescore each row's m float32 candidates in float64 ((x_i / |x_i|) . x_j / |x_j|, as the reference
// normalises), keep the best k, and certify the row: every column outside the candidates has a float32
// similarity <= the last candidate's, hence a true one <= that + tol; if this stays below the k-th float64
// similarity no column outside can enter or tie the top k. When m covers all n columns, always certified.
template <typename T>
py::tuple rescore_typed(const py::array& features, const double* norms, int64_t row0, const int64_t* cand,
                        const float* cand_sim, int64_t b, int64_t m, int64_t k, double tol) {
  const T* x = view<T>(features, 2, "features");  // [n, d]
  const int64_t n = features.shape(0), d = features.shape(1);
  if (row0 < 0 || row0 + b > n)
    fail("row0: rows [" + std::to_string(row0) + ", " + std::to_string(row0 + b) + ") out of range for " +
         std::to_string(n) + " features");
  for (int64_t p = 0; p < b * m; ++p)
    if (cand[p] < 0 || cand[p] >= n)
      fail("cand_idx: index " + std::to_string(cand[p]) + " at flat position " + std::to_string(p) +
           " out of range [0, " + std::to_string(n) + ")");
  py::array_t<int64_t> out_idx({b, k});
  py::array_t<float> out_sim({b, k});
  py::array_t<bool> certified(b);
  int64_t* oi = out_idx.mutable_data();
  float* os = out_sim.mutable_data();
  bool* oc = certified.mutable_data();
  {
    py::gil_scoped_release nogil;
#ifdef MCDREC_OPENMP
#pragma omp parallel
#endif
    {
      std::vector<double> xi(d), sims(m);
      std::vector<int64_t> order(m);
#ifdef MCDREC_OPENMP
#pragma omp for schedule(dynamic, 16)
#endif
      for (int64_t r = 0; r < b; ++r) {
        const int64_t i = row0 + r;
        for (int64_t t = 0; t < d; ++t) xi[t] = (double)x[i * d + t] / norms[i];
        const int64_t* cr = cand + r * m;
        for (int64_t q = 0; q < m; ++q) {
          const T* xj = x + cr[q] * d;
          double dot = 0.0;
          for (int64_t t = 0; t < d; ++t) dot += xi[t] * (double)xj[t];
          sims[q] = dot / norms[cr[q]];
          order[q] = q;
        }
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t c) {
          return sims[a] > sims[c] || (sims[a] == sims[c] && cr[a] < cr[c]);
        });
        for (int64_t q = 0; q < k; ++q) {
          oi[r * k + q] = cr[order[q]];
          os[r * k + q] = (float)sims[order[q]];
        }
        oc[r] = (m >= n) || ((double)cand_sim[r * m + m - 1] + tol < sims[order[k - 1]]);
      }
    }
  }
  return py::make_tuple(out_idx, out_sim, certified);
}

py::tuple rescore_py(py::array features, py::array norms, int64_t row0, py::array cand_idx, py::array cand_sim,
                     int64_t k, double tol) {
  const double* nr = view<double>(norms, 1, "norms");         // [n]
  const int64_t* ci = view<int64_t>(cand_idx, 2, "cand_idx");  // [b, m]
  const float* cs = view<float>(cand_sim, 2, "cand_sim");      // [b, m]
  const int64_t b = cand_idx.shape(0), m = cand_idx.shape(1);
  if (features.ndim() != 2) fail("features: expected a 2-d array, got " + describe(features));
  check_len(norms, features.shape(0), "norms", "one per feature row");
  if (cand_sim.shape(0) != b || cand_sim.shape(1) != m)
    fail("cand_sim: expected shape " + shape_str(cand_idx) + " like cand_idx, got " + describe(cand_sim));
  if (k < 1 || k > m) fail("k: must be in [1, m=" + std::to_string(m) + "], got " + std::to_string(k));
  if (is_dtype<float>(features)) return rescore_typed<float>(features, nr, row0, ci, cs, b, m, k, tol);
  if (is_dtype<double>(features)) return rescore_typed<double>(features, nr, row0, ci, cs, b, m, k, tol);
  fail("features: expected dtype float32 or float64, got " + describe(features));
}

// FREEDOM's kNN adjacency: A[i, j] = 1 for j in knn(i), value r_i r_j with r = (row count + 1e-7)^-1/2,
// rounded to float32; repeated (i, j) pairs are summed as a coalesced COO would. indices: [n, k] int64.
py::tuple knn_adjacency_py(py::array indices, int64_t n) {
  const int64_t* ix = view<int64_t>(indices, 2, "indices");
  if (indices.shape(0) != n)
    fail("indices: expected " + std::to_string(n) + " rows (n), got " + describe(indices));
  const int64_t k = indices.shape(1);
  for (int64_t p = 0; p < n * k; ++p)
    if (ix[p] < 0 || ix[p] >= n)
      fail("indices: index " + std::to_string(ix[p]) + " at row " + std::to_string(p / std::max<int64_t>(k, 1)) +
           ", column " + std::to_string(p % std::max<int64_t>(k, 1)) + " out of range [0, " + std::to_string(n) + ")");
  py::array_t<int64_t> indptr(n + 1);
  int64_t* ip = indptr.mutable_data();
  std::vector<int64_t> cols(n * k);
  std::vector<float> vals(n * k);
  {
    py::gil_scoped_release nogil;
    const double r = std::pow((double)k + 1e-7, -0.5);
    const float v = (float)(r * r);
    ip[0] = 0;
    std::vector<int64_t> row(k);
    for (int64_t i = 0; i < n; ++i) {
      std::copy(ix + i * k, ix + (i + 1) * k, row.begin());
      std::sort(row.begin(), row.end());
      int64_t q = ip[i];
      for (int64_t t = 0; t < k; ++t) {
        if (t > 0 && row[t] == row[t - 1]) {
          vals[q - 1] += v;
          continue;
        }
        cols[q] = row[t];
        vals[q++] = v;
      }
      ip[i + 1] = q;
    }
  }
  const int64_t nnz = ip[n];
  py::array_t<int64_t> out_cols(nnz);
  py::array_t<float> out_vals(nnz);
  std::copy(cols.begin(), cols.begin() + nnz, out_cols.mutable_data());
  std::copy(vals.begin(), vals.begin() + nnz, out_vals.mutable_data());
  return py::make_tuple(indptr, out_cols, out_vals);
}

}  // namespace

void register_knn_graph(py::module_& m) {
  m.def("knn_topk_update", &topk_update_py, py::arg("sim"), py::arg("col0"), py::arg("top_idx"), py::arg("top_sim"),
        "Merge a similarity tile sim [b, c] (columns col0..col0+c) into running sorted top lists [b, m], in place.");
  m.def("knn_rescore", &rescore_py, py::arg("features"), py::arg("norms"), py::arg("row0"), py::arg("cand_idx"),
        py::arg("cand_sim"), py::arg("k"), py::arg("tol"),
        "float64 rescoring of candidates -> (indices [b, k], similarities [b, k] float32, certified [b] bool).");
  m.def("knn_adjacency", &knn_adjacency_py, py::arg("indices"), py::arg("n"),
        "FREEDOM's normalised kNN graph from indices [n, k] -> CSR (indptr, indices, values float32).");
}

}  // namespace mcdrec
