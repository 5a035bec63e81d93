import numpy as np
import pytest

from mcdrec import _C


def test_extension_reports_threads():
    assert _C.max_threads() >= 1
    assert isinstance(_C.has_openmp(), bool)


def test_build_csr_groups_rows_and_sorts_columns(rng):
    n_rows, n_cols, nnz = 7, 11, 30
    flat = rng.choice(n_rows * n_cols, size=nnz, replace=False)
    rows, cols = (flat // n_cols).astype(np.int64), (flat % n_cols).astype(np.int64)
    indptr, indices, perm = _C.build_csr(rows, cols, n_rows, n_cols)
    dense = np.zeros((n_rows, n_cols), dtype=bool)
    dense[rows, cols] = True
    for r in range(n_rows):
        got = indices[indptr[r]:indptr[r + 1]]
        np.testing.assert_array_equal(got, np.flatnonzero(dense[r]))
    np.testing.assert_array_equal(rows[perm], np.repeat(np.arange(n_rows), np.diff(indptr)))
    np.testing.assert_array_equal(cols[perm], indices)


def test_build_csr_rejects_out_of_range_index():
    with pytest.raises(ValueError, match=r"cols: index 5 at position 1 out of range \[0, 5\)"):
        _C.build_csr(np.array([0, 1]), np.array([0, 5]), 2, 5)


def test_build_csr_empty():
    indptr, indices, perm = _C.build_csr(np.zeros(0, np.int64), np.zeros(0, np.int64), 3, 4)
    assert indptr.tolist() == [0, 0, 0, 0] and indices.size == 0 and perm.size == 0
