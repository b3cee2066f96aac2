"""Logistic regression by gradient descent on Tensors, with scikit-learn's fit of the same model beside it.

    p = σ(X w + b),   L = −mean(y ln p + (1 − y) ln(1 − p)),   ∂L/∂z = (p − y)/n,   θ ← θ − α ∇L

Run: python examples/logistic_regression.py [--epochs 500] [--lr 0.5] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import shendu as sd


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500, help="gradient-descent steps (default 500)")
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate α (default 0.5)")
    parser.add_argument("--out", default="example-output/logistic_regression", help="folder for the plot")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)                 # two overlapping clouds of points, labels 0 and 1
    X = np.vstack([rng.normal([-1.0, -1.0], 1.0, (200, 2)), rng.normal([1.5, 1.0], 1.0, (200, 2))])
    y = np.repeat([0.0, 1.0], 200)

    w = sd.tensor(np.zeros(2), requires_grad=True)
    b = sd.tensor(0.0, requires_grad=True)
    Xt, yt = sd.tensor(X), sd.tensor(y)
    for step in range(args.epochs):
        p = sd.sigmoid(Xt @ w + b)                                        # p = σ(Xw + b)
        loss = -(yt * sd.log(p) + (1 - yt) * sd.log(1 - p)).mean()       # binary cross-entropy
        w.grad = b.grad = None
        loss.backward()
        with sd.no_grad():
            w.data -= args.lr * w.grad.data                               # θ ← θ − α ∇θ L
            b.data -= args.lr * b.grad.data
    accuracy = float(((sd.sigmoid(Xt @ w + b).numpy() > 0.5) == y).mean())
    print(f"gradient descent: w = {np.round(w.numpy(), 3)}, b = {b.item():.3f}, loss {loss.item():.4f}, "
          f"accuracy {accuracy:.1%}")
    result = {"loss": loss.item(), "accuracy": accuracy}
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        print("(scikit-learn is not installed: pip install 'shendu[datasets]' to compare)")
    else:
        reference = LogisticRegression(C=1e6, max_iter=1000).fit(X, y)   # almost no penalty: the same loss
        print(f"scikit-learn:     w = {np.round(reference.coef_[0], 3)}, b = {reference.intercept_[0]:.3f}")
        result["agreement"] = float((reference.predict(X) == (sd.sigmoid(Xt @ w + b).numpy() > 0.5)).mean())
    _plot(X, y, w.numpy(), b.item(), Path(args.out))
    return result


def _plot(X, y, w, b, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=10)
    xs = np.linspace(X[:, 0].min(), X[:, 0].max(), 2)
    ax.plot(xs, -(w[0] * xs + b) / w[1], "k-", label="decision boundary σ(z) = 0.5")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "boundary.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'boundary.png'}")


if __name__ == "__main__":
    main()
