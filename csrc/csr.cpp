// COO -> CSR conversion (counting sort, stable) used by the graph layer.
#include <vector>

#include "common.h"

namespace mcdrec {

// rows, cols: [nnz] int64. Returns (indptr [n_rows+1], indices [nnz], perm [nnz]) with rows grouped and
// columns sorted ascending inside each row; perm maps CSR position -> input position.
static py::tuple build_csr(carray<int64_t> rows, carray<int64_t> cols, int64_t n_rows, int64_t n_cols) {
  check_ndim(rows, 1, "rows");
  check_ndim(cols, 1, "cols");
  const int64_t nnz = rows.shape(0);
  if (cols.shape(0) != nnz)
    fail("cols: expected shape (" + std::to_string(nnz) + ",) like rows, got " + shape_str(cols));
  if (n_rows < 0 || n_cols < 0) fail("n_rows/n_cols must be non-negative");
  const int64_t* r = rows.data();
  const int64_t* c = cols.data();
  for (int64_t e = 0; e < nnz; ++e) {
    if (r[e] < 0 || r[e] >= n_rows)
      fail("rows: index " + std::to_string(r[e]) + " at position " + std::to_string(e) + " out of range [0, " +
           std::to_string(n_rows) + ")");
    if (c[e] < 0 || c[e] >= n_cols)
      fail("cols: index " + std::to_string(c[e]) + " at position " + std::to_string(e) + " out of range [0, " +
           std::to_string(n_cols) + ")");
  }
  carray<int64_t> indptr(n_rows + 1), indices(nnz), perm(nnz);
  int64_t* ip = indptr.mutable_data();
  int64_t* ix = indices.mutable_data();
  int64_t* pm = perm.mutable_data();
  // Sort by column first (counting sort), then stably by row: rows grouped, columns ascending.
  std::vector<int64_t> ccount(n_cols + 1, 0), by_col(nnz);
  for (int64_t e = 0; e < nnz; ++e) ccount[c[e] + 1]++;
  for (int64_t j = 0; j < n_cols; ++j) ccount[j + 1] += ccount[j];
  for (int64_t e = 0; e < nnz; ++e) by_col[ccount[c[e]]++] = e;
  for (int64_t i = 0; i <= n_rows; ++i) ip[i] = 0;
  for (int64_t e = 0; e < nnz; ++e) ip[r[e] + 1]++;
  for (int64_t i = 0; i < n_rows; ++i) ip[i + 1] += ip[i];
  std::vector<int64_t> next(ip, ip + n_rows);
  for (int64_t k = 0; k < nnz; ++k) {
    const int64_t e = by_col[k];
    const int64_t pos = next[r[e]]++;
    ix[pos] = c[e];
    pm[pos] = e;
  }
  return py::make_tuple(indptr, indices, perm);
}

void register_csr(py::module_& m) {
  m.def("build_csr", &build_csr, py::arg("rows"), py::arg("cols"), py::arg("n_rows"), py::arg("n_cols"),
        "COO (rows, cols) -> CSR (indptr, indices, perm); columns sorted within rows, perm maps CSR slot -> input.");
}

}  // namespace mcdrec
