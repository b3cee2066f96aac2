"""The benchmark suite: ``shendu bench`` or ``python -m benchmarks`` (see ``suite.py``)."""
