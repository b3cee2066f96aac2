"""Linear regression by gradient descent on Tensors, with the closed-form least-squares solution beside it.

    ŷ = X w + b,   L = mean((ŷ − y)²),   w ← w − α ∂L/∂w,   b ← b − α ∂L/∂b
    closed form (normal equations): [w; b] = (AᵀA)⁻¹ Aᵀ y with A = [X 1]

Run: python examples/linear_regression.py [--epochs 300] [--lr 0.1] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import shendu as sd


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="gradient-descent steps (default 300)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate α (default 0.1)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--out", default="example-output/linear_regression", help="folder for the plot")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.samples, 2))
    y = X @ np.array([3.0, -2.0]) + 1.0 + rng.normal(scale=0.1, size=args.samples)   # y = 3x₁ − 2x₂ + 1 + noise

    w = sd.tensor(np.zeros(2), requires_grad=True)
    b = sd.tensor(0.0, requires_grad=True)
    Xt, yt = sd.tensor(X), sd.tensor(y)
    losses = []
    for step in range(args.epochs):
        y_hat = Xt @ w + b                         # ŷ = X w + b
        loss = ((y_hat - yt) ** 2).mean()          # L = mean((ŷ − y)²)
        w.grad = b.grad = None
        loss.backward()                            # ∂L/∂w = 2/n Xᵀ(ŷ − y), ∂L/∂b = 2/n Σ(ŷ − y)
        with sd.no_grad():
            w.data -= args.lr * w.grad.data        # w ← w − α ∂L/∂w
            b.data -= args.lr * b.grad.data
        losses.append(loss.item())

    A = np.hstack([X, np.ones((len(X), 1))])
    closed = np.linalg.lstsq(A, y, rcond=None)[0]            # the normal equations' solution
    gd = np.append(w.numpy(), b.item())
    print(f"gradient descent: w = {np.round(gd[:2], 4)}, b = {gd[2]:.4f}, final loss {losses[-1]:.5f}")
    print(f"closed form:      w = {np.round(closed[:2], 4)}, b = {closed[2]:.4f}")
    gap = float(np.abs(gd - closed).max())
    print(f"largest difference: {gap:.2e}")
    _plot(losses, Path(args.out))
    return {"loss": losses[-1], "max_difference_from_closed_form": gap}


def _plot(losses, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(losses)
    ax.set_xlabel("step")
    ax.set_ylabel("mean squared error")
    ax.set_title("linear regression by gradient descent")
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'loss.png'}")


if __name__ == "__main__":
    main()
