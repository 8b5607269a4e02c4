"""Layer 4: the formulas, pure functions of numbers, arrays and catalog records (docstrings state
formula, units and source). Imports ``params``, ``data`` and ``core`` only."""
