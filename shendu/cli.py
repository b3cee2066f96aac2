"""The ``shendu`` command: ``shendu demo`` trains the tutorial CNN and writes a run folder."""
from __future__ import annotations

import argparse

from shendu import demo as demos


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="shendu", description="shendu (深度): deep learning from first principles")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the tutorial CNN on MNIST digits (or --xor: a 2-4-1 network on XOR)")
    demo.add_argument("--xor", action="store_true", help="the low-level demo: XOR with Tensors and backward()")
    demo.add_argument("--epochs", type=int, default=None)
    demo.add_argument("--data", default=None, help="a folder holding mnist/t10k-*-ubyte.gz (default: Keras's cache "
                      "if it holds mnist.npz, else the MNIST test set embedded in shendu)")
    demo.add_argument("--out", default=None, help="the run folder to write (default: ./shendu-demo)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.xor:
            demos.demo_xor(epochs=args.epochs or 2000)
        else:
            demos.demo_mnist(epochs=args.epochs or 3, out=args.out or demos.default_out(), data=args.data)
    return 0
