"""Layer 2: every schema and loader of ``data/`` (catalogs, claims, measurements, prices) and the
data checks of ``gpucompare check-data``. Imports ``core`` only."""
