"""Data: batching of arrays and generators for ``fit``, and the bundled datasets."""
