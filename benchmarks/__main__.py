"""``python -m benchmarks``: the benchmark suite (shendu/bench/suite.py), run from the repository root."""
from shendu.bench.suite import main

raise SystemExit(main())
