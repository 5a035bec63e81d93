"""numba helpers over sorted index arrays (CSR rows), shared by the sampler and the metrics."""
from numba import njit


@njit(cache=True)
def in_sorted(row, item):
    """Binary search: is `item` in the sorted int64 array `row` ([n])?"""
    lo = 0
    hi = row.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if row[mid] < item:
            lo = mid + 1
        else:
            hi = mid
    return lo < row.shape[0] and row[lo] == item
