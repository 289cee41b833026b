"""Stage 3, validate: normalise a landed batch, run its Great Expectations suite,
split valid rows from quarantined ones. GX is imported only inside functions."""

import logging

# GX logs at INFO while it imports (one "Skipping registering function ..." line per closure,
# dozens per task log): quiet it before any module of this package imports it.
logging.getLogger("great_expectations").setLevel(logging.WARNING)
