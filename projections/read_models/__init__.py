"""The order read models: their tables, folds, projections, selectors and query API."""
