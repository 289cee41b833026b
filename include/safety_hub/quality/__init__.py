"""Stage 3, validate: normalise a landed batch, run its Great Expectations suite,
split valid rows from quarantined ones. GX is imported only inside functions."""
