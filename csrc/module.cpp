// mcdrec._C: CPU kernels of mcdrec (pybind11 + OpenMP, no PyTorch C++ API).
// Each op lives in its own csrc/<op>.cpp and registers itself here.
#include "common.h"

namespace mcdrec {
void register_csr(py::module_& m);
void register_propagate(py::module_& m);
void register_denoise_graph(py::module_& m);
void register_knn_graph(py::module_& m);
}  // namespace mcdrec

PYBIND11_MODULE(_C, m) {
  m.doc() = "mcdrec CPU kernels";
  m.def("max_threads", &mcdrec::max_threads, "OpenMP threads available to the kernels (1 without OpenMP).");
  m.def("has_openmp", []() {
#ifdef MCDREC_OPENMP
    return true;
#else
    return false;
#endif
  });
  mcdrec::register_csr(m);
  mcdrec::register_propagate(m);
  mcdrec::register_denoise_graph(m);
  mcdrec::register_knn_graph(m);
}
