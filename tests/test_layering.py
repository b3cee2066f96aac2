"""The package's imports run one way (docs/design.md, "The layers of the architecture"), and every
module imports alone in a fresh interpreter.

The layering is read from the import statements themselves (``ast``), at module level and inside
functions: a module may import its own rank or lower ranks, never a higher one. An import written
inside a function is allowed only for an optional dependency deferred on purpose, or when it is listed
in ``DEFERRED`` with the import cycle it breaks.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "shendu"

# rank of each part of the package, bottom to top (docs/design.md); the longest matching prefix wins
RANKS = {
    "shendu.backend": 0,
    "shendu.serialization": 0,        # the object-config convention: plain dicts, imports nothing
    "shendu.tensor": 1,               # the data: an array, its gradient and its creator
    "shendu.autograd": 2,             # the engine that builds on Tensor: Function, graph walk, no_grad
    "shendu.variable": 3,
    "shendu.tape": 3,
    "shendu.testing": 3,
    "shendu.tracing": 3,              # watching the engine through autograd's observer hook
    "shendu.profiler": 3,
    "shendu.ops": 4,
    "shendu.explain": 4,
    "shendu.numpy_api": 5,
    "shendu.nn_api": 5,
    "shendu.random": 5,
    "shendu.missing": 0,
    "shendu.registration": 0,         # register_keras_serializable's table: the standard library only              # teaching errors and "did you mean": the standard library only
    "shendu.activations": 5,
    "shendu.initializers": 5,
    "shendu.regularizers": 5,
    "shendu.constraints": 5,
    "shendu.losses": 6,
    "shendu.functional": 6,
    "shendu.metrics": 6,
    "shendu.optimizers": 6,
    "shendu.data": 6,
    "shendu.preprocessing": 6,
    "shendu.layers": 7,
    "shendu.callbacks": 8,
    "shendu.summary": 8,
    "shendu.utils": 8,
    "shendu.saving": 8,
    "shendu.distribute.context": 0,   # the strategy-scope stack: no imports, read by the training loop
    "shendu.distribute.hooks": 0,
    "shendu.models": 9,
    "shendu.distribute": 10,          # MPIStrategy wraps models' fit, callbacks and optimizers
    "shendu.applications": 10,
    "shendu.tf_api": 11,
    "shendu.keras": 11,
    "shendu.demo": 12,
    "shendu.cli": 12,
    "shendu.bench": 12,               # the benchmark suite: run as its own processes, never imported by shendu
    "shendu.__main__": 12,
    "shendu": 12,                     # the package's __init__: the top-level namespace re-exports everything
}

# third-party packages imported inside functions on purpose: optional dependencies, loaded on first use
# so that shendu imports (and most of it works) without them
OPTIONAL = {"numba", "h5py", "matplotlib", "tensorboard", "sklearn", "jieba", "PIL", "scipy", "ml_dtypes",
            "threadpoolctl", "tqdm", "cupy", "cupyx", "google", "yaml", "IPython", "pydot", "mpi4py"}

# the benchmark workers import numpy, torch, keras and shendu only after they have set the thread counts in
# the environment (a BLAS library reads them once, when it loads): every import there is deferred on purpose
DEFERS_EVERYTHING = ("shendu.bench.",)

# imports written inside a function although they are part of shendu: (module, imported) -> the reason.
# Upward imports (a higher rank) are listed here too; each must still exist, so the list cannot go stale.
_TENSOR = "Tensor's methods (+, @, .sum(), .backward()) are the ops and the engine, which build on Tensor"
DEFERRED: dict[tuple[str, str], str] = {
    ("shendu.ops.recurrent_compiled", "shendu.ops.recurrent_kernels"):
        "the compiled time loops import numba at their top: an optional dependency, loaded on first use",
    ("shendu.ops.conv_winograd", "shendu.ops.winograd_kernels"):
        "the compiled Winograd loops import numba and SciPy at their top: optional, loaded on first use",
    ("shendu.tensor", "shendu.ops"): _TENSOR,
    ("shendu.tensor", "shendu.autograd"): _TENSOR,
    ("shendu.layers.conv", "shendu.layers.pooling"):
        "Conv2D.fuses_pool asks whether the next layer is a MaxPooling2D; pooling builds on conv's shape helpers",
    ("shendu.layers.symbolic", "shendu.layers.core"):
        "arithmetic on a KerasTensor makes a TensorOp layer; layers.base (and so core) builds on symbolic",
    ("shendu.layers.recurrent", "shendu.layers"):
        "an RNN's cell config names any layer class, looked up in the package that imports recurrent",
    ("shendu.metrics.base", "shendu.metrics"):
        "MeanMetricWrapper.from_config resolves its fn by name in the package that imports base",
    ("shendu.models.model", "shendu.models.functional"):
        "Model(inputs, outputs) and Model.from_config(a functional config) return a Functional, which is a "
        "subclass of Model",
    ("shendu.tf_api.symbolic", "shendu.layers.symbolic_calls"):
        "`import shendu` loads the TensorFlow functions but not the layers; a call reaches the layers only once a "
        "KerasTensor can exist, i.e. once they have been loaded",
    ("shendu.distribute", "shendu.distribute.comm"):
        "rank() and size() start MPI through comm on first use; `import shendu.distribute` must not",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    while module not in RANKS:
        module = module.rpartition(".")[0]
    return RANKS[module]


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The shendu modules an ``ImportFrom`` reaches: ``from shendu import ops`` reaches shendu.ops (a
    module), ``from shendu import Tensor`` reaches the package ``shendu`` itself."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("shendu"):
        return [target]
    found = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        as_path = PACKAGE.parent / sub.replace(".", "/")
        found.append(sub if as_path.is_dir() or as_path.with_suffix(".py").exists() else target)
    return found


def imports():
    """(module, imported module, line, inside a function) for every import statement of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        module, is_package = module_name(path), path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node, in_function):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import):
                    for alias in child.names:
                        yield module, alias.name, child.lineno, in_function
                elif isinstance(child, ast.ImportFrom):
                    for target in resolve(module, is_package, child):
                        yield module, target, child.lineno, in_function
                yield from visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                          ast.Lambda)))

        yield from visit(tree, False)


def test_no_module_imports_a_higher_layer():
    upward = sorted({f"{m} (rank {rank(m)}) imports {t} (rank {rank(t)}) at line {line}"
                     for m, t, line, in_function in imports()
                     if t.startswith("shendu") and rank(t) > rank(m) and not (in_function and (m, t) in DEFERRED)})
    assert not upward, ("imports that point up the layering of docs/design.md:\n" + "\n".join(upward))


def _says_deferred_on_purpose(module: str, line: int) -> bool:
    """A comment (or docstring) at the import, or just above it, says the dependency is optional."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    lines = path.read_text(encoding="utf-8").splitlines()[max(0, line - 4): line + 1]
    return any(word in text.lower() for text in lines for word in ("optional", "lazily", "on first use"))


def test_imports_inside_functions_are_optional_dependencies_or_listed():
    found = set()
    unlisted = []
    for m, t, line, in_function in imports():
        if not in_function or m.startswith(DEFERS_EVERYTHING):
            continue
        if t.startswith("shendu"):
            found.add((m, t))
            if (m, t) not in DEFERRED:
                unlisted.append(f"{m}:{line} imports {t} inside a function")
        elif t.split(".")[0] not in OPTIONAL:
            unlisted.append(f"{m}:{line} defers {t}, which is not an optional dependency: import it at module level")
        elif not _says_deferred_on_purpose(m, line):
            unlisted.append(f"{m}:{line} defers the optional {t} without a comment saying so")
    assert not unlisted, ("move these imports to module level, or list them with the cycle they break:\n"
                          + "\n".join(sorted(unlisted)))
    stale = sorted(set(DEFERRED) - found)
    assert not stale, f"DEFERRED lists imports that no longer exist: {stale}"


def test_every_rank_names_a_real_part_of_the_package():
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    missing = [name for name in RANKS if name not in modules]
    assert not missing, f"RANKS names modules that do not exist: {missing}"
    unranked = sorted(m for m in modules if m != "shendu" and not any(m == p or m.startswith(p + ".")
                                                                      for p in RANKS if p != "shendu"))
    assert not unranked, f"give these modules a place in RANKS (and in docs/design.md): {unranked}"


# ----------------------------------------------------------------------------------- fresh imports

# Each module is imported with none of shendu loaded and with the top-level package replaced by an empty
# namespace, so that its own imports alone must bring in what it needs (importing ``shendu.x`` normally runs
# shendu/__init__.py first, which loads everything in one fixed order and would hide a missing import).
IMPORT_EACH = """
import importlib, importlib.util, sys, traceback, types
spec = importlib.util.find_spec("shendu")
failed = []
for name in sys.argv[1:]:
    for key in [k for k in sys.modules if k == "shendu" or k.startswith("shendu.")]:
        del sys.modules[key]
    if name != "shendu":
        top = types.ModuleType("shendu")
        top.__path__, top.__spec__, top.__file__ = spec.submodule_search_locations, spec, spec.origin
        sys.modules["shendu"] = top
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name + ":\\n" + traceback.format_exc())
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


# the benchmark's per-framework workers are scripts: the suite starts each in a fresh process with its folder
# on sys.path, so they import their siblings by plain name
BENCH_SCRIPTS = ("shendu.bench.run_", "shendu.bench.worker")


def _parts() -> dict[str, list[str]]:
    """The package's modules by subpackage; the single-file modules at the top form one part."""
    parts: dict[str, list[str]] = {}
    for name in sorted(map(module_name, PACKAGE.rglob("*.py"))):
        if name == "shendu.__main__":                 # importing it runs the command line
            continue
        if name.startswith(BENCH_SCRIPTS):             # run as scripts, beside their siblings on sys.path
            continue
        pieces = name.split(".")
        is_subpackage = len(pieces) > 1 and (PACKAGE / pieces[1]).is_dir()
        parts.setdefault(pieces[1] if is_subpackage else "top-level modules", []).append(name)
    return parts


@pytest.mark.parametrize("part", sorted(_parts()))
def test_each_module_imports_alone(part):
    """Each module of one part of the package imports by itself, in a fresh interpreter's state."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), SHENDU_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH, *_parts()[part]], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_shendu_leaves_the_optional_dependencies_unloaded():
    """``import shendu`` stays quick (the issue's budget is 0.3 s) because every optional dependency waits
    for its first use: numba until a compiled kernel runs, h5py until a file is read or written, and so on."""
    code = ("import sys, shendu, shendu.keras; "
            "print(sorted(m for m in " + repr(sorted(OPTIONAL | {"torch", "keras", "jax", "tensorflow"})) +
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"import shendu loaded optional dependencies: {out.stdout.strip()}"


def test_import_shendu_loads_the_keras_parts_on_first_use():
    """``import shendu`` binds shendu.layers, shendu.models, tf.nn, tf.TensorSpec, ... without loading them; the
    first attribute access (or ``from shendu import *``) loads them."""
    code = ("import sys, shendu\n"
            "parts = ['shendu.layers', 'shendu.models', 'shendu.callbacks', 'shendu.saving', 'shendu.tf_api.nn', "
            "'shendu.data', 'shendu.profiler', 'shendu.summary']\n"
            "print(sorted(m for m in parts if m in sys.modules))\n"
            "assert shendu.layers.Dense is shendu.keras.layers.Dense and shendu.nn.relu is shendu.nn.relu\n"
            "assert shendu.TensorSpec is shendu.data.TensorSpec and 'layers' in dir(shendu)\n"
            "scope = {}\n"
            "exec('from shendu import *', scope)\n"
            "assert scope['models'] is shendu.models and scope['nn'] is sys.modules['shendu.tf_api.nn']\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "ok"], f"import shendu loaded parts it defers: {out.stdout}"
