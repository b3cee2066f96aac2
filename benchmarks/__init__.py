"""``python -m benchmarks``: shendu against PyTorch (and Keras 3 on JAX), see ``shendu/bench/suite.py``."""
