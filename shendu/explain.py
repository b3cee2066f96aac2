"""``shendu explain``: the tutorials' worked backpropagation example, computed for real.

A 2-input, 2-hidden, 1-output network (hidden activation f, sigmoid output) sees one example and
takes one gradient-descent step. Every line prints the formula, the numbers put into it, the
result, and a check mark when the hand formula equals autodiff's value (shendu's GradientTape on
the same network, float64) to 1e-6:

    z¹ = W¹x + b¹,  a¹ = f(z¹),  z² = W²a¹ + b²,  a² = σ(z²),  L = loss(y, a²)
    δ² = ∂L/∂z² = ∂L/∂a² · σ'(z²),  ∂L/∂W² = δ² a¹ᵀ,  ∂L/∂b² = δ²
    δ¹ = (W²ᵀ δ²) ⊙ f'(z¹),          ∂L/∂W¹ = δ¹ xᵀ,  ∂L/∂b¹ = δ¹
    W ← W − α ∂L/∂W

Weights follow the tutorials' convention z = W a + b, so W has shape (outputs, inputs).
``check(claims)`` compares a tutorial's printed numbers with the real ones and names each that is wrong.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shendu.autograd import no_grad
from shendu.ops import activation as act
from shendu.ops import elementwise as ew
from shendu.ops import reduce as red
from shendu.tape import GradientTape
from shendu.tensor import Tensor

DEFAULT_WEIGHTS = {"W1": [[0.1, 0.2], [0.4, -0.3]], "b1": [0.1, 0.1], "W2": [[0.5, -0.6]], "b2": [0.2]}
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
LOSSES = ("binary_crossentropy", "mse")
LEAKY_ALPHA = 0.2          # Keras's LeakyReLU default slope (negative_slope=0.2)

# the names a check file may claim, in the order of the computation
STEPS = ("z1", "a1", "z2", "a2", "loss", "dL_da2", "delta2", "dW2", "db2", "delta1", "dW1", "db1",
         "W2_new", "b2_new", "W1_new", "b1_new")

TEXT = {
    "en": {"title": "Backpropagation, one step, by hand and by autodiff",
           "forward": "Forward pass", "backward": "Backward pass (the δ recursion)", "update": "Gradient-descent update",
           "given": "given", "ok": "✓ equals autodiff", "bad": "✗ autodiff gives",
           "all_ok": "All {n} values equal autodiff's to 1e-6.",
           "check_ok": "{file}: all {n} claimed values agree with the real computation.",
           "check_bad": "{file}: {k} of {n} claimed values disagree with the real computation:",
           "wrong_value": "  {name} ({what}): claimed {claimed}, really {real} (off by {diff})",
           "wrong_shape": "  {name} ({what}): claimed a value of shape {claimed}, the computation gives shape {real}",
           "unknown": "  {name}: not a step of this example (known steps: {known})"},
    "zh": {"title": "反向传播一步：手算与自动微分对照",
           "forward": "前向传播", "backward": "反向传播（δ 递推）", "update": "梯度下降更新",
           "given": "已知", "ok": "✓ 与自动微分一致", "bad": "✗ 自动微分结果为",
           "all_ok": "全部 {n} 个数值与自动微分一致（误差 < 1e-6）。",
           "check_ok": "{file}：全部 {n} 个数值与真实计算一致。",
           "check_bad": "{file}：{n} 个数值中有 {k} 个与真实计算不符：",
           "wrong_value": "  {name}（{what}）：教程写 {claimed}，实际为 {real}（相差 {diff}）",
           "wrong_shape": "  {name}（{what}）：教程中的形状为 {claimed}，实际计算的形状为 {real}",
           "unknown": "  {name}：不是本例中的步骤（已知步骤：{known}）"},
}

WHAT = {
    "en": {"z1": "hidden pre-activation", "a1": "hidden activation", "z2": "output pre-activation",
           "a2": "output (sigmoid)", "loss": "loss", "dL_da2": "∂L/∂a²", "delta2": "output error δ²",
           "dW2": "∂L/∂W²", "db2": "∂L/∂b²", "delta1": "hidden error δ¹", "dW1": "∂L/∂W¹", "db1": "∂L/∂b¹",
           "W2_new": "updated W²", "b2_new": "updated b²", "W1_new": "updated W¹", "b1_new": "updated b¹"},
    "zh": {"z1": "隐藏层加权输入", "a1": "隐藏层激活值", "z2": "输出层加权输入", "a2": "输出（sigmoid）",
           "loss": "损失", "dL_da2": "∂L/∂a²", "delta2": "输出层误差 δ²", "dW2": "∂L/∂W²", "db2": "∂L/∂b²",
           "delta1": "隐藏层误差 δ¹", "dW1": "∂L/∂W¹", "db1": "∂L/∂b¹", "W2_new": "更新后的 W²",
           "b2_new": "更新后的 b²", "W1_new": "更新后的 W¹", "b1_new": "更新后的 b¹"},
}


@dataclass
class Step:
    """One line of the worked example: its name, formula, the numbers substituted, and both results."""
    name: str
    formula: str
    substituted: str
    value: np.ndarray
    autodiff: np.ndarray

    @property
    def agrees(self) -> bool:
        return self.value.shape == self.autodiff.shape and bool(np.allclose(self.value, self.autodiff, rtol=0,
                                                                            atol=1e-6))


@dataclass
class Example:
    """The network, the example and the learning rate; ``steps`` after ``run()``."""
    x: np.ndarray
    y: float
    weights: dict
    activation: str = "relu"
    loss: str = "binary_crossentropy"
    lr: float = 0.1
    steps: list = field(default_factory=list)

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"explain: activation must be one of {ACTIVATIONS}, got {self.activation!r}.")
        if self.loss not in LOSSES:
            raise ValueError(f"explain: loss must be one of {LOSSES}, got {self.loss!r}.")
        self.x = np.asarray(self.x, dtype=np.float64).reshape(-1)
        self.weights = {k: np.asarray(self.weights[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2")}
        b1 = self.weights["b1"].reshape(-1)
        expected = {"W1": (len(b1), len(self.x)), "W2": (1, len(b1)), "b2": (1,)}
        for name, shape in expected.items():
            w = self.weights[name]
            if w.size != int(np.prod(shape)) or (w.ndim == 2 and w.shape != shape and name == "W1"):
                raise ValueError(f"explain: {name} must have shape {shape} for x of length {len(self.x)} and "
                                 f"b1 of length {len(b1)} (z = W a + b, W is (outputs, inputs)); got {w.shape}.")
            self.weights[name] = w.reshape(shape)
        self.weights["b1"] = b1


def _f(z, name):
    """The hidden activation on arrays, and its derivative f'(z)."""
    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(np.float64)
    if name == "sigmoid":
        a = 1.0 / (1.0 + np.exp(-z))
        return a, a * (1.0 - a)
    if name == "tanh":
        a = np.tanh(z)
        return a, 1.0 - a ** 2
    return np.where(z > 0, z, LEAKY_ALPHA * z), np.where(z > 0, 1.0, LEAKY_ALPHA)


def _f_tensor(z, name):
    if name == "leaky_relu":
        return act.leaky_relu(z, LEAKY_ALPHA)
    return getattr(act, name)(z)


def _loss_tensor(a2, y, name):
    """The loss written with shendu's ops (no clipping), so autodiff differentiates the same formula."""
    if name == "binary_crossentropy":
        return ew.neg(red.sum(y * ew.log(a2) + (1.0 - y) * ew.log(1.0 - a2)))
    return red.sum((a2 - y) * (a2 - y))


def autodiff_values(ex: Example) -> dict:
    """Every quantity of the example from shendu's autodiff (GradientTape, float64)."""
    W1, b1, W2, b2 = (Tensor(ex.weights[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2"))
    x = Tensor(ex.x)
    y = float(ex.y)
    with GradientTape() as tape:
        z1 = W1 @ x + b1
        a1 = _f_tensor(z1, ex.activation)
        z2 = W2 @ a1 + b2
        a2 = act.sigmoid(z2)
        loss = _loss_tensor(a2, y, ex.loss)
    grads = tape.gradient(loss, [z1, a2, z2, W1, b1, W2, b2])
    d_z1, d_a2, d_z2, gW1, gb1, gW2, gb2 = (g.numpy() for g in grads)
    with no_grad():
        return {"z1": z1.numpy(), "a1": a1.numpy(), "z2": z2.numpy(), "a2": a2.numpy(),
                "loss": np.asarray(loss.numpy()), "dL_da2": d_a2, "delta2": d_z2, "dW2": gW2, "db2": gb2,
                "delta1": d_z1, "dW1": gW1, "db1": gb1, "W2_new": ex.weights["W2"] - ex.lr * gW2,
                "b2_new": ex.weights["b2"] - ex.lr * gb2, "W1_new": ex.weights["W1"] - ex.lr * gW1,
                "b1_new": ex.weights["b1"] - ex.lr * gb1}


def _n(v) -> str:
    """A number or array, four decimals, the way the tutorials print them."""
    v = np.asarray(v, dtype=np.float64) + 0.0          # + 0.0 turns -0.0 into 0.0
    if v.ndim == 0 or v.size == 1 and v.ndim == 1:
        return f"{float(v.reshape(-1)[0]):.4f}"
    if v.ndim == 1:
        return "[" + ", ".join(f"{e:.4f}" for e in v) + "]"
    return "[" + ", ".join(_n(row) for row in v) + "]"


def run(ex: Example) -> list:
    """The worked example, step by step: hand formulas on NumPy, each paired with autodiff's value."""
    auto = autodiff_values(ex)
    W1, b1, W2, b2 = (ex.weights[k] for k in ("W1", "b1", "W2", "b2"))
    x, y, f = ex.x, float(ex.y), ex.activation
    z1 = W1 @ x + b1
    a1, df = _f(z1, f)
    z2 = W2 @ a1 + b2
    a2 = 1.0 / (1.0 + np.exp(-z2))
    if ex.loss == "binary_crossentropy":
        loss = -(y * np.log(a2) + (1 - y) * np.log(1 - a2)).sum()
        dL_da2 = -(y / a2) + (1 - y) / (1 - a2)
        loss_formula, dl_formula = "L = −[y ln a² + (1 − y) ln(1 − a²)]", "∂L/∂a² = −y/a² + (1 − y)/(1 − a²)"
        loss_numbers = f"−[{y:g} · ln {_n(a2)} + {1 - y:g} · ln(1 − {_n(a2)})]"
        dl_numbers = f"−{y:g}/{_n(a2)} + {1 - y:g}/(1 − {_n(a2)})"
    else:
        loss = ((a2 - y) ** 2).sum()
        dL_da2 = 2 * (a2 - y)
        loss_formula, dl_formula = "L = (a² − y)²", "∂L/∂a² = 2(a² − y)"
        loss_numbers, dl_numbers = f"({_n(a2)} − {y:g})²", f"2 · ({_n(a2)} − {y:g})"
    delta2 = dL_da2 * a2 * (1 - a2)
    dW2 = np.outer(delta2, a1)
    db2 = delta2
    delta1 = (W2.T @ delta2) * df
    dW1 = np.outer(delta1, x)
    db1 = delta1
    fprime = {"relu": "relu'(z¹) = 1[z¹ > 0]", "sigmoid": "σ'(z¹) = a¹(1 − a¹)", "tanh": "tanh'(z¹) = 1 − (a¹)²",
              "leaky_relu": f"f'(z¹) = 1 if z¹ > 0 else {LEAKY_ALPHA}"}[f]
    rows = [
        ("z1", "z¹ = W¹x + b¹", f"{_n(W1)} · {_n(x)} + {_n(b1)}", z1),
        ("a1", f"a¹ = {f}(z¹)", f"{f}({_n(z1)})", a1),
        ("z2", "z² = W²a¹ + b²", f"{_n(W2)} · {_n(a1)} + {_n(b2)}", z2),
        ("a2", "a² = σ(z²) = 1 / (1 + e^(−z²))", f"1 / (1 + e^(−{_n(z2)}))", a2),
        ("loss", loss_formula, loss_numbers, np.asarray(loss)),
        ("dL_da2", dl_formula, dl_numbers, dL_da2),
        ("delta2", "δ² = ∂L/∂a² · σ'(z²) = ∂L/∂a² · a²(1 − a²)", f"{_n(dL_da2)} · {_n(a2)} · (1 − {_n(a2)})",
         delta2),
        ("dW2", "∂L/∂W² = δ² (a¹)ᵀ", f"{_n(delta2)} ⊗ {_n(a1)}", dW2),
        ("db2", "∂L/∂b² = δ²", _n(delta2), db2),
        ("delta1", f"δ¹ = (W²ᵀ δ²) ⊙ f'(z¹),  {fprime}", f"({_n(W2.T.ravel())} · {_n(delta2)}) ⊙ {_n(df)}", delta1),
        ("dW1", "∂L/∂W¹ = δ¹ xᵀ", f"{_n(delta1)} ⊗ {_n(x)}", dW1),
        ("db1", "∂L/∂b¹ = δ¹", _n(delta1), db1),
        ("W2_new", "W² ← W² − α ∂L/∂W²", f"{_n(W2)} − {ex.lr:g} · {_n(dW2)}", W2 - ex.lr * dW2),
        ("b2_new", "b² ← b² − α ∂L/∂b²", f"{_n(b2)} − {ex.lr:g} · {_n(db2)}", b2 - ex.lr * db2),
        ("W1_new", "W¹ ← W¹ − α ∂L/∂W¹", f"{_n(W1)} − {ex.lr:g} · {_n(dW1)}", W1 - ex.lr * dW1),
        ("b1_new", "b¹ ← b¹ − α ∂L/∂b¹", f"{_n(b1)} − {ex.lr:g} · {_n(db1)}", b1 - ex.lr * db1),
    ]
    ex.steps = [Step(name, formula, sub, np.asarray(value, dtype=np.float64).reshape(np.shape(auto[name])),
                     auto[name]) for name, formula, sub, value in rows]
    return ex.steps


def render(ex: Example, lang: str = "en") -> str:
    """The worked example as text, in English or Chinese."""
    t = TEXT[lang]
    steps = ex.steps or run(ex)
    w = ex.weights
    lines = [t["title"], "=" * 60,
             f"{t['given']}: x = {_n(ex.x)}, y = {float(ex.y):g}, α = {ex.lr:g}, f = {ex.activation}, "
             f"loss = {ex.loss}",
             f"       W¹ = {_n(w['W1'])}, b¹ = {_n(w['b1'])}, W² = {_n(w['W2'])}, b² = {_n(w['b2'])}"]
    sections = {"z1": t["forward"], "dL_da2": t["backward"], "W2_new": t["update"]}
    for s in steps:
        if s.name in sections:
            lines += ["", sections[s.name], "-" * 60]
        mark = t["ok"] if s.agrees else f"{t['bad']} {_n(s.autodiff)}"
        lines += [f"{s.formula}", f"    = {s.substituted}", f"    = {_n(s.value)}    {mark}"]
    if all(s.agrees for s in steps):
        lines += ["", t["all_ok"].format(n=len(steps))]
    return "\n".join(lines)


def explain(x=(1.0, 2.0), y=0.0, weights=None, activation="relu", loss="binary_crossentropy", lr=0.1,
            lang="en", print_fn=print) -> Example:
    """Compute and print the worked example; returns it (``.steps`` holds every value and autodiff's)."""
    if lang not in TEXT:
        raise ValueError(f"explain: lang must be one of {sorted(TEXT)}, got {lang!r}.")
    ex = Example(x=x, y=y, weights=dict(DEFAULT_WEIGHTS, **(weights or {})), activation=activation,
                 loss=_loss_name(loss), lr=lr)
    run(ex)
    if print_fn is not None:
        print_fn(render(ex, lang))
    return ex


def _loss_name(loss: str) -> str:
    aliases = {"bce": "binary_crossentropy", "cross_entropy": "binary_crossentropy", "crossentropy":
               "binary_crossentropy", "mean_squared_error": "mse"}
    return aliases.get(loss, loss)


def read_document(text_or_path) -> dict:
    """A JSON (or, with PyYAML installed, YAML) document given inline or as a file path."""
    text = str(text_or_path)
    path = Path(text)
    if len(text) < 4096 and path.is_file():
        text = path.read_text(encoding="utf-8")
        suffix = path.suffix.lower()
    else:
        suffix = ".json"
    if suffix in (".yaml", ".yml"):
        try:
            import yaml                                    # optional: only YAML check files need it
        except ImportError:
            raise ImportError(f"{path} is YAML, which needs PyYAML (pip install pyyaml); or write it as JSON.") \
                from None
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"explain: expected JSON (inline or a file path), got {text[:60]!r}: {e}") from None


def check(claims_doc: dict, lang: str = "en", source: str = "claims") -> tuple:
    """Compare a tutorial's claimed values with the real computation.

    ``claims_doc`` holds the example (``x``, ``y``, ``weights``, ``activation``, ``loss``, ``lr``) and
    ``claims``: step name -> the number or array the tutorial printed. Returns ``(report, wrong)``,
    where ``wrong`` lists the names that disagree (by more than half a unit in the claim's last printed
    decimal place, at least 5e-4) or whose shape does not fit.
    """
    t, what = TEXT[lang], WHAT[lang]
    ex = Example(x=claims_doc.get("x", (1.0, 2.0)), y=claims_doc.get("y", 0.0),
                 weights=dict(DEFAULT_WEIGHTS, **claims_doc.get("weights", {})),
                 activation=claims_doc.get("activation", "relu"),
                 loss=_loss_name(claims_doc.get("loss", "binary_crossentropy")), lr=claims_doc.get("lr", 0.1))
    real = {s.name: s.value for s in run(ex)}
    claims = claims_doc.get("claims", {})
    wrong, lines = [], []
    for name, claimed in claims.items():
        if name not in real:
            wrong.append(name)
            lines.append(t["unknown"].format(name=name, known=", ".join(STEPS)))
            continue
        c = np.asarray(claimed, dtype=np.float64)
        r = real[name]
        if c.size != r.size:
            wrong.append(name)
            lines.append(t["wrong_shape"].format(name=name, what=what[name], claimed=c.shape, real=r.shape))
            continue
        c = c.reshape(r.shape)
        diff = np.abs(c - r)
        if np.any(diff > _tolerance(claimed)):
            wrong.append(name)
            lines.append(t["wrong_value"].format(name=name, what=what[name], claimed=_n(c), real=_n(r),
                                                 diff=_n(diff if diff.size > 1 else diff.max())))
    if wrong:
        report = "\n".join([t["check_bad"].format(file=source, k=len(wrong), n=len(claims))] + lines)
    else:
        report = t["check_ok"].format(file=source, n=len(claims))
    return report, wrong


def _tolerance(claimed) -> float:
    """Half a unit in the last decimal place the tutorial printed (at least 5e-4): rounding is not an error."""
    decimals = 0
    for v in np.asarray(claimed, dtype=object).reshape(-1):
        text = repr(float(v)) if not isinstance(v, str) else v
        if "e" not in text.lower() and "." in text:
            decimals = max(decimals, len(text.split(".")[1].rstrip("0")))
    return max(0.5 * 10.0 ** (-decimals), 5e-4) if decimals else 0.5
