"""The knowledge base: fitting decile thresholds, rating traits into sales scores, validation."""
