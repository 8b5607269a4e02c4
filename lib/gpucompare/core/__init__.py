"""Layer 1, imported by every other layer: units, errors, paths, YAML reading, validation
messages, JSON output. Imports nothing of gpucompare outside ``core``."""
