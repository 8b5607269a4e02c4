"""gpucompare: which GPU, for which LLM workload, at what price.

All computation of the report lives in this package; the notebooks in
``notebooks/`` only call it and show its tables and figures.
"""

__version__ = "0.1.0"
