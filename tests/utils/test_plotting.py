"""plot_model and plot_history: drawn with matplotlib; checked by layout properties, not pixels."""
from __future__ import annotations

import sys

import pytest

from shendu.keras import Input, Model, layers, models
from shendu.keras.utils import model_to_dot, plot_model
from shendu.utils import plot_history
from shendu.utils.plotting import draw_layout, layout_model


@pytest.fixture(scope="module")
def matplotlib():
    """matplotlib (the plot extra): it measures the text of the layout and draws the pictures."""
    return pytest.importorskip("matplotlib")


def tutorial_cnn():
    return models.Sequential([layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                              layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(128, activation="relu"),
                              layers.Dense(10, activation="softmax")])


def two_input_model():
    """Two inputs, branches, merges, a shared layer and two outputs."""
    a, b = Input((8,), name="in_a"), Input((4,), name="in_b")
    x = layers.Dense(16, activation="relu", name="branch_a")(a)
    y = layers.Dense(16, activation="relu", name="branch_b")(b)
    shared = layers.Dense(16, name="shared")
    z = layers.Concatenate(name="joined")([shared(x), shared(y)])
    total = layers.Add(name="total")([x, y])
    score = layers.Dense(1, name="score")(z)
    cls = layers.Dense(3, activation="softmax", name="cls")(layers.Concatenate(name="all")([z, total, a]))
    return Model([a, b], [score, cls])


def gan_combined(functional=True):
    gen = models.Sequential([layers.Dense(7 * 7 * 8, input_shape=(16,)), layers.Reshape((7, 7, 8)),
                             layers.Conv2DTranspose(1, 4, strides=4, padding="same", activation="tanh")],
                            name="generator")
    disc = models.Sequential([layers.Conv2D(8, 3, input_shape=(28, 28, 1)), layers.Flatten(),
                              layers.Dense(1, activation="sigmoid")], name="discriminator")
    disc.trainable = False
    if not functional:                                        # the other recipe: Sequential([generator, discriminator])
        return models.Sequential([gen, disc], name="gan")
    noise = Input((16,), name="noise")
    return Model(noise, disc(gen(noise)), name="gan")


def _overlap(a, b):
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _segment_hits_box(p, q, box, inset=1.0):
    """Does the axis-aligned or straight segment p-q pass through the inside of ``box``?"""
    x0, y0, x1, y1 = box.x + inset, box.y + inset, box.x + box.w - inset, box.y + box.h - inset
    for t in [i / 50 for i in range(51)]:
        x, y = p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
        if x0 < x < x1 and y0 < y < y1:
            return True
    return False


def check_layout(layout):
    boxes = list(layout.boxes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlap(a, b), f"{a} overlaps {b}"
    for src, dst, pts in layout.arrows:
        s, d = layout.boxes[src], layout.boxes[dst]
        if layout.rankdir == "TB":
            assert pts[0][1] == pytest.approx(s.y + s.h) and s.x <= pts[0][0] <= s.x + s.w   # leaves the producer
            assert pts[-1][1] == pytest.approx(d.y) and d.x <= pts[-1][0] <= d.x + d.w       # enters the consumer
            assert pts[-1][1] > pts[-2][1]                                                  # pointing down into it
        else:
            assert pts[0][0] == pytest.approx(s.x + s.w) and pts[-1][0] == pytest.approx(d.x)
            assert pts[-1][0] > pts[-2][0]
        for p, q in zip(pts, pts[1:]):
            assert p[0] == pytest.approx(q[0]) or p[1] == pytest.approx(q[1])          # right angles ('ortho')
            for other in boxes:
                if other is not s and other is not d:
                    assert not _segment_hits_box(p, q, other), f"arrow {s.lines[0]} -> {d.lines[0]} crosses {other}"
    # text fits its box, as the renderer draws it
    fig = draw_layout(layout, dpi=100)
    from matplotlib.backends.backend_agg import FigureCanvasAgg   # the tests that lay out ask for matplotlib
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    patches = {p.get_gid()[4:]: p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("box:")}
    texts = [t for t in fig.axes[0].texts if (t.get_gid() or "").startswith("text:")]
    assert len(texts) == sum(len(b.lines) for b in boxes)
    for box in boxes:
        frame = patches[box.lines[0]].get_window_extent(renderer)
        for i in range(len(box.lines)):
            (text,) = [t for t in texts if t.get_gid() == f"text:{box.key}:{i}"]
            extent = text.get_window_extent(renderer)
            assert frame.x0 - 0.5 <= extent.x0 and extent.x1 <= frame.x1 + 0.5, (box.lines[i], frame, extent)
            assert frame.y0 - 0.5 <= extent.y0 and extent.y1 <= frame.y1 + 0.5, (box.lines[i], frame, extent)


def _edges(layout):
    name = {k: b.node.name for k, b in layout.boxes.items()}
    return {(name[a], name[b]) for a, b, _ in layout.arrows}


def test_plot_model_tutorial_cnn(tmp_path, matplotlib):
    model = tutorial_cnn()
    layout = layout_model(model, show_shapes=True, show_layer_names=True, show_layer_activations=True)
    check_layout(layout)
    names = ["input_layer"] + [layer.name for layer in model.layers]
    assert _edges(layout) == set(zip(names, names[1:]))
    conv = [b for b in layout.boxes.values() if b.node.layer is model.layers[0]][0]
    assert conv.lines == [f"{model.layers[0].name} (Conv2D)", "Input shape: (None, 28, 28, 1)",
                          "Output shape: (None, 26, 26, 32)", "Activation: relu"]
    ys = [b.y for b in sorted(layout.boxes.values(), key=lambda b: names.index(b.node.name))]
    assert ys == sorted(ys)                                   # top to bottom in data order
    plot_model(model, to_file=tmp_path / "cnn.png", show_shapes=True, dpi=72)
    assert (tmp_path / "cnn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_model_two_inputs_branches_merges_shared_layer(tmp_path, matplotlib):
    model = two_input_model()
    for rankdir in ("TB", "LR"):
        layout = layout_model(model, show_shapes=True, show_layer_names=True, rankdir=rankdir)
        check_layout(layout)
    assert _edges(layout) == {("in_a", "branch_a"), ("in_b", "branch_b"), ("branch_a", "shared"),
                              ("branch_b", "shared"), ("shared", "joined"), ("branch_a", "total"),
                              ("branch_b", "total"), ("joined", "score"), ("joined", "all"), ("total", "all"),
                              ("in_a", "all"), ("all", "cls")}
    assert sum(1 for b in layout.boxes.values() if b.node.name == "shared") == 1      # a shared layer, one box
    plot_model(model, to_file=tmp_path / "two.svg", show_shapes=True, show_layer_names=True)
    svg = (tmp_path / "two.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_plot_model_gan_combined_nested(tmp_path, matplotlib):
    model = gan_combined()
    layout = layout_model(model, show_shapes=True, show_layer_names=True, show_trainable=True)
    check_layout(layout)
    assert _edges(layout) == {("noise", "generator"), ("generator", "discriminator")}
    disc = [b for b in layout.boxes.values() if b.node.name == "discriminator"][0]
    assert "Trainable: False" in disc.lines and "Output shape: (None, 1)" in disc.lines
    nested = layout_model(model, show_shapes=True, show_layer_names=True, expand_nested=True)
    check_layout(nested)
    gen_layers, disc_layers = model.layers[1].layers, model.layers[2].layers
    edges = _edges(nested)
    assert ("noise", gen_layers[0].name) in edges and (gen_layers[-1].name, disc_layers[0].name) in edges
    frames = {name: (x, y, w, h) for name, x, y, w, h in nested.frames}
    assert set(frames) == {"generator", "discriminator"}
    for name, inner in (("generator", gen_layers), ("discriminator", disc_layers)):
        x, y, w, h = frames[name]
        for box in nested.boxes.values():
            inside = box.node.layer in inner
            contained = x <= box.x and box.x + box.w <= x + w and y <= box.y and box.y + box.h <= y + h
            assert contained == inside, (name, box)
    _, gen_top, _, gen_height = frames["generator"]
    assert gen_top + gen_height < frames["discriminator"][1]  # the two frames do not overlap
    plot_model(model, to_file=tmp_path / "gan.png", show_shapes=True, expand_nested=True, dpi=72)
    assert (tmp_path / "gan.png").stat().st_size > 1000


def test_plot_model_gan_as_sequential_of_models(matplotlib):
    model = gan_combined(functional=False)
    check_layout(layout_model(model, show_shapes=True, show_layer_names=True))
    nested = layout_model(model, show_shapes=True, show_layer_names=True, expand_nested=True)
    check_layout(nested)
    gen_layers, disc_layers = model.layers[0].layers, model.layers[1].layers
    chain = ["input_layer"] + [layer.name for layer in gen_layers + disc_layers]
    assert _edges(nested) == set(zip(chain, chain[1:]))
    assert {name for name, *_ in nested.frames} == {"generator", "discriminator"}


def test_plot_model_refuses_subclassed_models():
    class Net(models.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="subclassed"):
        layout_model(Net())


def test_plot_model_arguments(matplotlib):
    model = tutorial_cnn()
    assert layout_model(model).boxes[next(iter(layout_model(model).boxes))].lines == ["InputLayer"]
    typed = layout_model(model, show_dtype=True, show_trainable=True)
    assert all("dtype: float32" in b.lines and "Trainable: True" in b.lines
               for b in typed.boxes.values() if b.node.layer is not None)
    with pytest.raises(ValueError, match="rankdir"):
        layout_model(model, rankdir="BT")
    with pytest.raises(ValueError, match="splines"):
        plot_model(model, to_file="model.png", splines="curved")
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        plot_model(model, to_file="model.gif")


def test_model_to_dot_names_plot_model_without_pydot(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(ImportError, match="plot_model"):
        model_to_dot(tutorial_cnn())


def test_drawing_without_matplotlib_names_the_plot_extra(monkeypatch):
    for name in ["matplotlib"] + [n for n in sys.modules if n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)        # as where the plot extra is not installed
    for draw in (lambda: layout_model(tutorial_cnn()), lambda: plot_history({"loss": [1.0, 0.5]})):
        with pytest.raises(ImportError, match=r"matplotlib, which is not installed: pip install 'shendu\[plot\]'"):
            draw()


def test_plot_history_one_panel_per_metric(tmp_path, matplotlib):
    history = {"loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.7, 0.5],
               "val_accuracy": [0.4, 0.6, 0.75]}
    fig = plot_history(history, to_file=tmp_path / "history.png")
    assert (tmp_path / "history.png").exists()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax, name in zip(fig.axes, ("loss", "accuracy")):
        train, val = ax.get_lines()
        assert list(train.get_ydata()) == history[name] and list(val.get_ydata()) == history[f"val_{name}"]
        assert list(train.get_xdata()) == [1, 2, 3]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]
    with pytest.raises(ValueError, match="were not logged"):
        plot_history(history, metrics=["auc"])
