"""Session-wide test settings.

BLAS runs one thread per call in the tests: they check numbers, never speed, and on a loaded
2-core machine a 2-thread OpenBLAS waits for its second thread on every mid-sized matmul (measured:
the conv-net preset's claims took 103 s instead of 7 s)."""
import numpy  # noqa: F401  (load NumPy's BLAS first: threadpoolctl limits only libraries already loaded)
from threadpoolctl import threadpool_limits

_blas_limit = threadpool_limits(limits=1, user_api="blas")
