"""Layer 7: building the published report: resolve -> plan (cache keys) -> execute -> render ->
publish, plus comparison, PDF and progress. Imports every layer below; only ``cli`` imports it."""
