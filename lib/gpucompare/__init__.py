"""gpucompare: which GPU, for which LLM workload, at what price.

All computation of the report lives in this package; the notebooks in
``notebooks/`` only call it and show its tables and figures.
"""

import os

# One BLAS thread per process unless the user chose otherwise: builds run sections in parallel
# kernels (which inherit this), and the engine calibration's small SVDs run 5-10x slower when
# BLAS threads compete for the same cores. Set before anything here imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
