"""The ``shendu`` command: ``shendu demo`` trains the tutorial CNN and writes a run folder; ``shendu explain``
works the backpropagation example; ``shendu bench`` times shendu against PyTorch (shendu/bench/suite.py)."""
from __future__ import annotations

import argparse
import ast
from pathlib import Path

from shendu import demo as demos
from shendu.bench import suite as bench_suite
from shendu.distribute import launch
from shendu import explain as explaining


def examples_dir():
    """The examples/ folder of a source checkout (beside the package), else ./examples, else None."""
    for folder in (Path(__file__).resolve().parents[1] / "examples", Path.cwd() / "examples"):
        if folder.is_dir():
            return folder
    return None


def list_examples() -> int:
    """Each example script with the first line of its docstring."""
    folder = examples_dir()
    if folder is None:
        print("The examples live in the examples/ folder of shendu's source repository; run them from a checkout, "
              "e.g. python examples/mnist_cnn.py.")
        return 1
    for script in sorted(folder.glob("*.py")):
        tree = ast.parse(script.read_text(encoding="utf-8"))
        summary = (ast.get_docstring(tree) or "").split("\n")[0]
        print(f"{script.stem:24s} {summary}")
    print(f"\nRun one with: python {folder.name}/NAME.py --help")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="shendu", description="shendu (深度): deep learning from first principles")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the tutorial CNN on MNIST digits (or --xor: a 2-4-1 network on XOR)")
    demo.add_argument("--xor", action="store_true", help="the low-level demo: XOR with Tensors and backward()")
    demo.add_argument("--epochs", type=int, default=None)
    demo.add_argument("--data", default=None, help="a folder holding mnist/t10k-*-ubyte.gz (default: Keras's cache "
                      "if it holds mnist.npz, else the MNIST test set embedded in shendu)")
    demo.add_argument("--out", default=None, help="the run folder to write (default: ./shendu-demo)")
    ex = sub.add_parser("explain", help="the worked backpropagation example, every step with its formula and "
                        "numbers, checked against autodiff (--check FILE: find the wrong values in a tutorial)")
    ex.add_argument("--x", default="1,2", help="the input, comma separated (default: 1,2)")
    ex.add_argument("--y", type=float, default=0.0, help="the target, 0 or 1 (default: 0)")
    ex.add_argument("--weights", default=None, help="JSON (inline or a file) with any of W1, b1, W2, b2; "
                    "z = W a + b, so W is (outputs, inputs)")
    ex.add_argument("--activation", default="relu", choices=explaining.ACTIVATIONS, help="the hidden activation")
    ex.add_argument("--loss", default="binary_crossentropy", choices=explaining.LOSSES + ("bce",))
    ex.add_argument("--lr", type=float, default=0.1, help="the learning rate α (default: 0.1)")
    ex.add_argument("--lang", default="en", choices=sorted(explaining.TEXT), help="en or zh (中文)")
    ex.add_argument("--check", default=None, metavar="FILE", help="a JSON/YAML file of a tutorial's claimed "
                    "values; names each one that disagrees with the real computation (exit status 1 if any)")
    sub.add_parser("examples", help="list the tutorials' programs in examples/, one line each")
    sub.add_parser("bench", add_help=False,
                   help="time shendu against PyTorch, each in its own process (shendu bench --help for options)")
    run = sub.add_parser("run", help="data-parallel training: start N workers of a script with mpiexec "
                         "(see docs/distributed.md)")
    run.add_argument("-n", "--workers", type=int, required=True, help="the number of worker processes")
    run.add_argument("--hosts", default=None, help="comma-separated machines to spread the workers over")
    run.add_argument("--hostfile", default=None, help="a file naming the machines, one a line (host:slots)")
    run.add_argument("--threads", type=int, default=None, help="BLAS threads per worker (default: the library's)")
    run.add_argument("script", nargs=argparse.REMAINDER, help="the script and its arguments")
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return bench_suite.main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "run":
        try:
            return launch.run(args.script, args.workers, args.hosts, args.hostfile, args.threads)
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
    if args.command == "examples":
        return list_examples()
    if args.command == "explain":
        if args.check:
            report, wrong = explaining.check(explaining.read_document(args.check), lang=args.lang, source=args.check)
            print(report)
            return 1 if wrong else 0
        try:
            x = [float(v) for v in args.x.split(",")]
        except ValueError:
            parser.error(f"--x: expected numbers separated by commas, e.g. 1,2; got {args.x!r}")
        weights = explaining.read_document(args.weights) if args.weights else None
        explaining.explain(x=x, y=args.y, weights=weights, activation=args.activation, loss=args.loss, lr=args.lr,
                           lang=args.lang)
        return 0
    if args.command == "demo":
        if args.xor:
            demos.demo_xor(epochs=args.epochs or 2000)
        else:
            demos.demo_mnist(epochs=args.epochs or 3, out=args.out or demos.default_out(), data=args.data)
    return 0
