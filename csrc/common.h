// Shared helpers for the mcdrec C++ kernels: argument checks and thread control.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#ifdef MCDREC_OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace mcdrec {

template <typename T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

inline int max_threads() {
#ifdef MCDREC_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Raise ValueError naming the argument and what was received.
[[noreturn]] inline void fail(const std::string& msg) { throw py::value_error(msg); }

inline std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

inline void check_ndim(const py::array& a, int ndim, const char* name) {
  if (a.ndim() != ndim) {
    std::ostringstream s;
    s << name << ": expected a " << ndim << "-d array, got shape " << shape_str(a);
    fail(s.str());
  }
}

// Validate a CSR structure: indptr [n_rows + 1] monotone from 0 to nnz, columns in [0, n_cols)
// and strictly increasing within each row when `sorted` is requested.
template <typename I>
void check_csr(const I* indptr, int64_t n_rows, const I* indices, int64_t nnz, int64_t n_cols,
               bool sorted, const char* name) {
  if (indptr[0] != 0) fail(std::string(name) + ": indptr[0] must be 0, got " + std::to_string((int64_t)indptr[0]));
  if ((int64_t)indptr[n_rows] != nnz)
    fail(std::string(name) + ": indptr[-1] must equal nnz=" + std::to_string(nnz) + ", got " +
         std::to_string((int64_t)indptr[n_rows]));
  // all of indptr first: a monotone indptr ending at nnz keeps every row's entries in bounds
  for (int64_t r = 0; r < n_rows; ++r)
    if (indptr[r + 1] < indptr[r])
      fail(std::string(name) + ": indptr not monotone at row " + std::to_string(r));
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t p = indptr[r]; p < (int64_t)indptr[r + 1]; ++p) {
      const int64_t c = indices[p];
      if (c < 0 || c >= n_cols)
        fail(std::string(name) + ": column index " + std::to_string(c) + " at position " + std::to_string(p) +
             " (row " + std::to_string(r) + ") out of range [0, " + std::to_string(n_cols) + ")");
      if (sorted && p > indptr[r] && indices[p - 1] >= c)
        fail(std::string(name) + ": column indices not strictly increasing in row " + std::to_string(r) +
             " at position " + std::to_string(p));
    }
  }
}

}  // namespace mcdrec
