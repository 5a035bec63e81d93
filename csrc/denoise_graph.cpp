// DGD graph denoising and FREEDOM's degree-sensitive pruning (SPEC section 5), on edges only:
// edge cosine scores, keep-sampling without replacement by exponential keys (Efraimidis-Spirakis) with a
// partial selection, degree sums over the kept edges and direct assembly of the symmetric CSR.
// The uniforms come from the caller (torch's generator), so the result matches the torch reference
// exactly and does not depend on the thread count: only the per-edge key and score loops are parallel;
// the selection and the degree sums run in edge order.
#include <cmath>
#include <numeric>

#include "arrays.h"

namespace mcdrec {
namespace {

// Cosine of the rows u and v of length d, as the reference computes it: dot / max(|u| |v|, eps).
template <typename T>
MCDREC_INLINE float cosine_row(const T* u, const T* v, int64_t d, double eps) {
  T dot = 0, uu = 0, vv = 0;
#pragma omp simd reduction(+ : dot, uu, vv)
  for (int64_t j = 0; j < d; ++j) {
    dot += u[j] * v[j];
    uu += u[j] * u[j];
    vv += v[j] * v[j];
  }
  const double den = std::max(std::sqrt((double)uu) * std::sqrt((double)vv), eps);
  return (float)((double)dot / den);
}

template <typename T>
void cosine_edges(const T* user, const T* item, const int64_t* eu, const int64_t* ei, int64_t n_edges, int64_t d,
                  double eps, float* out) {
#ifdef MCDREC_OPENMP
#pragma omp parallel for schedule(static)
#endif
  for (int64_t e = 0; e < n_edges; ++e) out[e] = cosine_row(user + eu[e] * d, item + ei[e] * d, d, eps);
}

void check_ids(const int64_t* ids, int64_t n, int64_t bound, const char* name) {
  for (int64_t e = 0; e < n; ++e)
    if (ids[e] < 0 || ids[e] >= bound)
      fail(std::string(name) + ": id " + std::to_string(ids[e]) + " at position " + std::to_string(e) +
           " out of range [0, " + std::to_string(bound) + ")");
}

template <typename T>
py::array_t<float> edge_cosine_typed(const py::array& user_emb, const py::array& item_rep, const int64_t* eu,
                                     const int64_t* ei, int64_t n_edges, double eps) {
  const T* u = view<T>(user_emb, 2, "user_emb");
  const T* v = view<T>(item_rep, 2, "item_rep");
  const int64_t d = user_emb.shape(1);
  if (item_rep.shape(1) != d)
    fail("item_rep: expected " + std::to_string(d) + " columns like user_emb, got " + describe(item_rep));
  check_ids(eu, n_edges, user_emb.shape(0), "edge_user");
  check_ids(ei, n_edges, item_rep.shape(0), "edge_item");
  py::array_t<float> out(n_edges);
  float* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    cosine_edges(u, v, eu, ei, n_edges, d, eps, o);
  }
  return out;
}

// user_emb: [n_users, d]; item_rep: [n_items, d] (same float dtype); edge_user, edge_item: [E] int64 -> [E] f32
py::array_t<float> edge_cosine_py(py::array user_emb, py::array item_rep, py::array edge_user, py::array edge_item,
                                  double eps) {
  const int64_t* eu = view<int64_t>(edge_user, 1, "edge_user");
  const int64_t* ei = view<int64_t>(edge_item, 1, "edge_item");
  const int64_t n_edges = edge_user.shape(0);
  check_len(edge_item, n_edges, "edge_item", "like edge_user");
  check_same_dtype(item_rep, "item_rep", user_emb, "user_emb");
  if (is_dtype<float>(user_emb)) return edge_cosine_typed<float>(user_emb, item_rep, eu, ei, n_edges, eps);
  if (is_dtype<double>(user_emb)) return edge_cosine_typed<double>(user_emb, item_rep, eu, ei, n_edges, eps);
  fail("user_emb: expected dtype float32 or float64, got " + describe(user_emb));
}

// Ids of the n_keep largest keys log(u_e) / p_e, ties to the lower edge id, ascending. O(E) expected.
std::vector<int64_t> keep_by_keys(const float* probs, const double* uniforms, int64_t n_edges, int64_t n_keep) {
  std::vector<double> keys(n_edges);
#ifdef MCDREC_OPENMP
#pragma omp parallel for schedule(static)
#endif
  for (int64_t e = 0; e < n_edges; ++e) keys[e] = std::log(uniforms[e]) / (double)probs[e];
  std::vector<int64_t> order(n_edges);
  std::iota(order.begin(), order.end(), int64_t(0));
  auto before = [&keys](int64_t a, int64_t b) { return keys[a] > keys[b] || (keys[a] == keys[b] && a < b); };
  if (n_keep < n_edges) std::nth_element(order.begin(), order.begin() + n_keep, order.end(), before);
  order.resize(n_keep);
  std::sort(order.begin(), order.end());
  return order;
}

// Builds the symmetric CSR [(U+I), (U+I)] of the kept edges. Edges arrive user-major with ascending items,
// so scattering kept edges in edge order leaves every row's columns sorted (users rows: U + item ascending;
// item rows: users ascending).
py::tuple denoise_graph_py(int64_t n_users, int64_t n_items, py::array edge_user, py::array edge_item,
                           py::array probs, py::array uniforms, py::object scores, int64_t n_keep, double tau,
                           bool multiply_weight) {
  const int64_t* eu = view<int64_t>(edge_user, 1, "edge_user");  // [E]
  const int64_t* ei = view<int64_t>(edge_item, 1, "edge_item");  // [E]
  const float* pr = view<float>(probs, 1, "probs");               // [E]
  const double* un = view<double>(uniforms, 1, "uniforms");       // [E]
  const int64_t n_edges = edge_user.shape(0);
  if (n_users < 0 || n_items < 0) fail("n_users/n_items must be >= 0");
  check_len(edge_item, n_edges, "edge_item", "like edge_user");
  check_len(probs, n_edges, "probs", "one per edge");
  check_len(uniforms, n_edges, "uniforms", "one per edge");
  if (n_keep < 0 || n_keep > n_edges)
    fail("n_keep: must be in [0, " + std::to_string(n_edges) + "], got " + std::to_string(n_keep));
  const float* sc = nullptr;  // [E] or none: unit weights
  py::array scores_arr;
  if (!scores.is_none()) {
    scores_arr = scores.cast<py::array>();
    sc = view<float>(scores_arr, 1, "scores");
    check_len(scores_arr, n_edges, "scores", "one per edge");
  }
  check_ids(eu, n_edges, n_users, "edge_user");
  check_ids(ei, n_edges, n_items, "edge_item");
  for (int64_t e = 1; e < n_edges; ++e)
    if (eu[e] < eu[e - 1] || (eu[e] == eu[e - 1] && ei[e] <= ei[e - 1]))
      fail("edge_user/edge_item: edges must be sorted user-major with strictly increasing items (as "
           "BipartiteGraph stores them); edge " + std::to_string(e) + " (" + std::to_string(eu[e]) + ", " +
           std::to_string(ei[e]) + ") follows (" + std::to_string(eu[e - 1]) + ", " + std::to_string(ei[e - 1]) + ")");
  for (int64_t e = 0; e < n_edges; ++e) {
    if (!(pr[e] > 0.0f) || !std::isfinite(pr[e]))
      fail("probs: expected positive finite weights, got " + std::to_string(pr[e]) + " at edge " + std::to_string(e));
    if (!(un[e] > 0.0 && un[e] <= 1.0))
      fail("uniforms: expected values in (0, 1], got " + std::to_string(un[e]) + " at edge " + std::to_string(e));
  }
  const int64_t n = n_users + n_items;
  py::array_t<int64_t> indptr(n + 1), indices(2 * n_keep), kept_arr(n_keep);
  py::array_t<float> values(2 * n_keep);
  int64_t* ip = indptr.mutable_data();
  int64_t* ix = indices.mutable_data();
  int64_t* kp = kept_arr.mutable_data();
  float* vv = values.mutable_data();
  {
    py::gil_scoped_release nogil;
    const std::vector<int64_t> kept = keep_by_keys(pr, un, n_edges, n_keep);
    std::vector<double> weight(n_keep, 1.0), deg(n, 0.0);  // deg: users then items
    for (int64_t k = 0; k < n_keep; ++k) {
      const int64_t e = kept[k];
      if (sc) weight[k] = 1.0 + tau * (double)sc[e];
      deg[eu[e]] += weight[k];
      deg[n_users + ei[e]] += weight[k];
      kp[k] = e;
    }
    std::fill(ip, ip + n + 1, int64_t(0));
    for (int64_t k = 0; k < n_keep; ++k) {
      ip[eu[kept[k]] + 1]++;
      ip[n_users + ei[kept[k]] + 1]++;
    }
    for (int64_t r = 0; r < n; ++r) ip[r + 1] += ip[r];
    std::vector<int64_t> next(ip, ip + n);
    for (int64_t k = 0; k < n_keep; ++k) {
      const int64_t e = kept[k], u = eu[e], i = n_users + ei[e];
      double v = (1.0 / std::sqrt(deg[u])) * (1.0 / std::sqrt(deg[i]));
      if (multiply_weight) v *= weight[k];
      const int64_t pu = next[u]++, pi = next[i]++;
      ix[pu] = i;
      vv[pu] = (float)v;
      ix[pi] = u;
      vv[pi] = (float)v;
    }
  }
  return py::make_tuple(indptr, indices, values, kept_arr);
}

}  // namespace

void register_denoise_graph(py::module_& m) {
  m.def("edge_cosine", &edge_cosine_py, py::arg("user_emb"), py::arg("item_rep"), py::arg("edge_user"),
        py::arg("edge_item"), py::arg("eps") = 1e-8,
        "Cosine of the endpoint rows of each edge: [E] float32 (dot / max(|u| |v|, eps)).");
  m.def("denoise_graph", &denoise_graph_py, py::arg("n_users"), py::arg("n_items"), py::arg("edge_user"),
        py::arg("edge_item"), py::arg("probs"), py::arg("uniforms"), py::arg("scores"), py::arg("n_keep"),
        py::arg("tau"), py::arg("multiply_weight"),
        "Keep n_keep edges by exponential keys log(u)/p (ties -> lower edge id), weight 1 + tau * score, "
        "values D_u^-1/2 D_i^-1/2 (* weight). Returns (indptr, indices, values, kept) of the symmetric CSR.");
}

}  // namespace mcdrec
