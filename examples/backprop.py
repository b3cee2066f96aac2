"""The worked backpropagation example of the tutorials, every step with its formula and numbers, each
checked against autodiff (the same as `shendu explain`).

Run: python examples/backprop.py [--lang zh] [--activation relu|sigmoid|tanh|leaky_relu] [--lr 0.1]
"""
from __future__ import annotations

import argparse

from shendu import explain


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="en", choices=sorted(explain.TEXT))
    parser.add_argument("--activation", default="relu", choices=explain.ACTIVATIONS)
    parser.add_argument("--loss", default="binary_crossentropy", choices=explain.LOSSES)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=1, help="accepted for uniformity: the example is one step")
    args = parser.parse_args(argv)
    example = explain.explain(activation=args.activation, loss=args.loss, lr=args.lr, lang=args.lang)
    agreeing = sum(step.agrees for step in example.steps)
    return {"steps": len(example.steps), "agree_with_autodiff": agreeing}


if __name__ == "__main__":
    main()
