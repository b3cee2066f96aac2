"""Pictures of models and of training: ``plot_model`` (no Graphviz needed) and ``plot_history``.

``plot_model`` lays the layer graph out in ranks (each layer one rank below the deepest layer feeding
it; an edge that skips ranks passes through bends placed in the ranks between, so it does not cross
boxes), orders each rank by the mean position of its neighbours, sizes every box to its measured text
and draws with matplotlib: PNG, SVG or PDF by the file's extension. ``layout_model`` returns the same
geometry for a program (or a test) to inspect. matplotlib is an optional dependency (the plot extra),
imported on first use.
"""
from __future__ import annotations

import os

from shendu.utils.model_graph import model_graph, shape_text

_FONT_SIZE = 10.0           # points; the layout is in points (1/72 inch)
_PAD_X, _PAD_Y = 8.0, 5.0   # text to box edge
_LINE_GAP = 3.0
_RANK_GAP, _BOX_GAP, _MARGIN = 34.0, 18.0, 14.0


class Box:
    """A drawn layer: ``x, y`` its top-left corner, ``w, h`` its size (points, y grows downward)."""

    def __init__(self, key, lines, w, h, node):
        self.key, self.lines, self.w, self.h, self.node = key, lines, w, h, node
        self.x = self.y = 0.0
        self.line_sizes = []

    @property
    def center(self):
        return self.x + self.w / 2, self.y + self.h / 2

    def __repr__(self):
        return f"Box({self.lines[0]!r}, x={self.x:.0f}, y={self.y:.0f}, w={self.w:.0f}, h={self.h:.0f})"


class Layout:
    """``boxes`` by node key, ``arrows`` as (producer key, consumer key, [points]), ``frames`` of nested
    models as (name, x, y, w, h), and the drawing's ``width`` and ``height`` in points."""

    def __init__(self, boxes, arrows, frames, width, height, rankdir):
        self.boxes, self.arrows, self.frames = boxes, arrows, frames
        self.width, self.height, self.rankdir = width, height, rankdir


def _label(node, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    lines = [f"{node.name} ({node.class_name})" if show_layer_names else node.class_name]
    if show_shapes:
        if node.class_name != "InputLayer":
            lines.append(f"Input shape: {shape_text(node.input_shapes)}")
        lines.append(f"Output shape: {shape_text(node.output_shapes)}")
    layer = node.layer
    if show_dtype:
        lines.append(f"dtype: {getattr(layer, 'dtype', None) or 'float32'}")
    if show_layer_activations and layer is not None and getattr(layer, "activation", None) is not None:
        act = layer.activation
        lines.append(f"Activation: {getattr(act, '__name__', None) or type(act).__name__}")
    if show_trainable and layer is not None:
        lines.append(f"Trainable: {bool(layer.trainable)}")
    return lines


def _require_matplotlib():
    """Say which extra to install when matplotlib, which draws every picture here, is missing."""
    try:
        import matplotlib  # noqa: F401   optional dependency (the plot extra), imported on first use on purpose
    except ImportError:
        raise ImportError("plot_model, model_to_dot's layout and plot_history draw with matplotlib, which is not "
                          "installed: pip install 'shendu[plot]' (or pip install matplotlib).") from None


def _measure(lines):
    """Width and height of each line in points, as matplotlib's Agg renderer draws them."""
    _require_matplotlib()
    from matplotlib.backends.backend_agg import RendererAgg   # optional dependency, deferred on purpose
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(10, 10, 72)
    sizes = []
    for i, line in enumerate(lines):
        prop = FontProperties(family="DejaVu Sans", size=_FONT_SIZE, weight="bold" if i == 0 else "normal")
        w, h, _ = renderer.get_text_width_height_descent(line, prop, ismath=False)
        sizes.append((w, max(h, _FONT_SIZE)))
    return sizes


def _ranks(keys, edges):
    """Longest-path layering: a node sits one rank below the deepest node feeding it."""
    rank = {k: 0 for k in keys}
    for _ in range(len(keys)):
        changed = False
        for a, b in edges:
            if rank[b] < rank[a] + 1:
                rank[b] = rank[a] + 1
                changed = True
        if not changed:
            break
    return rank


def layout_model(model, show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB",
                 expand_nested=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho") -> Layout:
    """The geometry ``plot_model`` draws (see the module docstring)."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"rankdir must be 'TB' (top to bottom) or 'LR' (left to right), got {rankdir!r}.")
    if splines not in ("ortho", "polyline", "line"):
        raise ValueError(f"splines must be 'ortho' (right angles, the default) or 'polyline'/'line' (straight "
                         f"segments); got {splines!r}, a Graphviz style that matplotlib drawing does not have.")
    graph = model_graph(model, expand_nested=expand_nested)
    boxes = {}
    for key, node in graph.nodes.items():
        lines = _label(node, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable)
        sizes = _measure(lines)
        w = max(s[0] for s in sizes) + 2 * _PAD_X
        h = sum(s[1] for s in sizes) + _LINE_GAP * (len(sizes) - 1) + 2 * _PAD_Y
        box = boxes[key] = Box(key, lines, w, h, node)
        box.line_sizes = sizes
    vertical = rankdir == "TB"
    rank = _ranks(list(boxes), graph.edges)
    # long edges pass through bend points, one per skipped rank, which take part in the ordering
    chains, members = {}, {r: [] for r in range(max(rank.values(), default=0) + 1)}
    for key in boxes:
        members[rank[key]].append(key)
    size = {k: (b.h, b.w) if vertical else (b.w, b.h) for k, b in boxes.items()}   # (along ranks, across)
    for a, b in graph.edges:
        points = []
        for r in range(rank[a] + 1, rank[b]):
            bend = ("bend", a, b, r)
            members[r].append(bend)
            size[bend] = (0.0, 4.0)
            points.append(bend)
        chains[(a, b)] = [a] + points + [b]
    up, down = {}, {}
    for chain in chains.values():
        for p, q in zip(chain, chain[1:]):
            down.setdefault(p, []).append(q)
            up.setdefault(q, []).append(p)
    order = {k: i for r in members for i, k in enumerate(members[r])}
    for sweep in range(8):        # barycentre ordering, sweeping down then up
        ranks = sorted(members) if sweep % 2 == 0 else sorted(members, reverse=True)
        for r in ranks:
            near = up if sweep % 2 == 0 else down

            def centre(k):
                return sum(order[n] for n in near[k]) / len(near[k]) if near.get(k) else order[k]
            members[r].sort(key=lambda k: (centre(k), order[k]))
            for i, k in enumerate(members[r]):
                order[k] = i
    # positions across the ranks: each item near the mean of its neighbours, never overlapping
    across = {}
    for sweep in range(4):
        ranks = sorted(members) if sweep % 2 == 0 else sorted(members, reverse=True)
        for r in ranks:
            near = up if sweep % 2 == 0 else down
            row = members[r]
            want = []
            for k in row:
                known = [across[n] for n in near.get(k, []) if n in across]
                want.append(sum(known) / len(known) if known else across.get(k, 0.0))
            placed, edge = [], None
            for k, x in zip(row, want):
                half = size[k][1] / 2
                if edge is not None:
                    x = max(x, edge + _BOX_GAP + half)
                placed.append(x)
                edge = x + half
            shift = (sum(want) - sum(placed)) / len(row) if row else 0.0
            for k, x in zip(row, placed):
                across[k] = x + shift
    low = min((across[k] - size[k][1] / 2 for k in across), default=0.0)
    high = max((across[k] + size[k][1] / 2 for k in across), default=0.0)
    depth, gap, start = {}, {}, _MARGIN
    for r in sorted(members):
        thick = max((size[k][0] for k in members[r]), default=0.0)
        depth[r] = start + thick / 2
        gap[r] = start + thick + _RANK_GAP / 2          # the middle of the gap below rank r
        start += thick + _RANK_GAP
    extent_along = start - _RANK_GAP + _MARGIN
    extent_across = high - low + 2 * _MARGIN

    def point(k):
        a, c = depth[rank[k] if k in rank else k[3]], across[k] - low + _MARGIN
        return (c, a) if vertical else (a, c)

    for k, box in boxes.items():
        cx, cy = point(k)
        box.x, box.y = cx - box.w / 2, cy - box.h / 2
    # several arrows into one box enter side by side, in the order of their sources
    entries = {}
    for (a, b), chain in chains.items():
        entries.setdefault(b, []).append((across[chain[-2]], a))
    slot = {}
    for b, sources in entries.items():
        for i, (_, a) in enumerate(sorted(sources, key=lambda s: s[0])):
            slot[(a, b)] = (i + 1) / (len(sources) + 1)
    # in the gap between two ranks, the arrows of each source run in their own lane
    lanes = {}
    for (a, b), chain in chains.items():
        for i, k in enumerate(chain[:-1]):
            lanes.setdefault(rank[a] + i, []).append(k)
    lane = {}
    for r, starts in lanes.items():
        distinct = list(dict.fromkeys(sorted(starts, key=lambda k: across[k])))
        step = min(6.0, (_RANK_GAP - 12.0) / max(len(distinct) - 1, 1))
        for j, k in enumerate(distinct):
            lane[(r, k)] = gap[r] + (j - (len(distinct) - 1) / 2) * step
    arrows = []
    for (a, b), chain in chains.items():
        src, dst = boxes[a], boxes[b]
        f = slot[(a, b)]
        if vertical:
            pts = [(src.center[0], src.y + src.h)] + [point(k) for k in chain[1:-1]] + [(dst.x + f * dst.w, dst.y)]
        else:
            pts = [(src.x + src.w, src.center[1])] + [point(k) for k in chain[1:-1]] + [(dst.x, dst.y + f * dst.h)]
        if splines == "ortho":      # each step: along the ranks into the gap, across it, along into the next rank
            elbows = [pts[0]]
            for i, (p, q) in enumerate(zip(pts, pts[1:])):
                g = lane[(rank[a] + i, chain[i])]
                if abs((p[0] - q[0]) if vertical else (p[1] - q[1])) > 0.5:
                    elbows += [(p[0], g), (q[0], g)] if vertical else [(g, p[1]), (g, q[1])]
                elbows.append(q)
            pts = elbows
        arrows.append((a, b, pts))
    frames = _frames(boxes, model.name)
    width, height = (extent_across, extent_along) if vertical else (extent_along, extent_across)
    for _, x, y, w, h in frames:
        width, height = max(width, x + w + _MARGIN / 2), max(height, y + h + _MARGIN / 2)
    layout = Layout(boxes, arrows, frames, width, height, rankdir)
    layout.show_trainable = show_trainable
    return layout


def _frames(boxes, top):
    """A dashed frame around the boxes of each nested model (expand_nested)."""
    groups = {}
    for box in boxes.values():
        parents = box.node.parents
        for i in range(1, len(parents)):
            groups.setdefault(parents[:i + 1], []).append(box)
    frames = []
    for path, members in sorted(groups.items(), key=lambda item: -len(item[0])):
        pad = 5.0
        x0 = min(b.x for b in members) - pad
        y0 = min(b.y for b in members) - pad - _FONT_SIZE
        x1 = max(b.x + b.w for b in members) + pad
        y1 = max(b.y + b.h for b in members) + pad
        frames.append((path[-1], max(x0, 1.0), max(y0, 1.0), x1 - max(x0, 1.0), y1 - max(y0, 1.0)))
    return frames


def draw_layout(layout, dpi=200):
    """A matplotlib Figure of ``layout`` (boxes, arrows, frames), one point per point."""
    _require_matplotlib()
    from matplotlib.figure import Figure   # optional dependency, deferred on purpose
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
    from matplotlib.path import Path

    fig = Figure(figsize=(layout.width / 72.0, layout.height / 72.0), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(layout.height, 0)
    ax.set_axis_off()
    for name, x, y, w, h in layout.frames:
        ax.add_patch(Rectangle((x, y), w, h, fill=False, linestyle="--", edgecolor="#777777", linewidth=0.8))
        ax.text(x + 4, y + 3, name, fontsize=_FONT_SIZE - 2, family="DejaVu Sans", color="#555555",
                va="top", ha="left")
    for _, _, pts in layout.arrows:
        codes = [Path.MOVETO] + [Path.LINETO] * (len(pts) - 1)
        ax.add_patch(FancyArrowPatch(path=Path(pts, codes), arrowstyle="-|>", mutation_scale=10,
                                     color="#333333", linewidth=0.9, shrinkA=0, shrinkB=0))
    for box in layout.boxes.values():
        node = box.node
        frozen = getattr(layout, "show_trainable", False) and not getattr(node.layer, "trainable", True)
        face = "#fde9d9" if node.class_name == "InputLayer" else ("#eeeeee" if frozen else "#e8f0fb")
        ax.add_patch(FancyBboxPatch((box.x, box.y), box.w, box.h, boxstyle="round,pad=0,rounding_size=4",
                                    facecolor=face, edgecolor="#4a6fa5", linewidth=1.0, gid=f"box:{box.lines[0]}"))
        y = box.y + _PAD_Y
        for i, (line, (_, lh)) in enumerate(zip(box.lines, box.line_sizes)):
            ax.text(box.x + box.w / 2, y + lh / 2, line, fontsize=_FONT_SIZE, family="DejaVu Sans",
                    weight="bold" if i == 0 else "normal", ha="center", va="center", gid=f"text:{box.key}:{i}")
            y += lh + _LINE_GAP
    return fig


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho"):
    """Draw ``model``'s layers and connections to ``to_file`` (.png, .svg or .pdf) with matplotlib.

    Keras's arguments: show_shapes (input and output shapes), show_dtype, show_layer_names (else the
    class alone), rankdir ('TB' top to bottom, 'LR' left to right), expand_nested (an inner model's
    layers in a dashed frame), dpi (for PNG), show_layer_activations, show_trainable (also shaded grey
    when frozen), splines ('ortho': right-angled arrows; 'polyline' or 'line': straight segments).
    Returns an ``IPython.display.Image`` of a PNG when IPython is installed, else None.
    """
    extension = os.path.splitext(os.fspath(to_file))[1].lower().lstrip(".") or "png"
    if extension not in ("png", "svg", "pdf"):
        raise ValueError(f"plot_model writes .png, .svg or .pdf files; got {to_file!r}.")
    layout = layout_model(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                          rankdir=rankdir, expand_nested=expand_nested,
                          show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                          splines=splines)
    fig = draw_layout(layout, dpi=dpi)
    directory = os.path.dirname(os.fspath(to_file))
    if directory:
        os.makedirs(directory, exist_ok=True)
    fig.savefig(to_file, format=extension, dpi=dpi)
    if extension != "png":
        return None
    try:
        from IPython import display   # optional, for notebooks: show the picture inline
    except ImportError:
        return None
    return display.Image(filename=os.fspath(to_file))


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 **kwargs):
    """The model as a ``pydot.Dot`` graph (needs pydot and Graphviz). To draw a picture without them,
    use ``plot_model``."""
    try:
        import pydot   # optional dependency, deferred on purpose
    except ImportError:
        raise ImportError("model_to_dot returns a pydot graph and needs pydot and Graphviz (pip install pydot). "
                          "To draw the model without them, use keras.utils.plot_model(model, to_file='model.png'), "
                          "which draws with matplotlib.") from None
    graph = model_graph(model, expand_nested=expand_nested)
    dot = pydot.Dot(graph_type="digraph", rankdir=rankdir, dpi=str(dpi), **kwargs)
    for key, node in graph.nodes.items():
        label = "\n".join(_label(node, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                                 show_trainable))
        dot.add_node(pydot.Node(str(key), label=label, shape="record"))
    for a, b in graph.edges:
        dot.add_edge(pydot.Edge(str(a), str(b)))
    return dot


def plot_history(history, to_file=None, metrics=None, title=None):
    """One panel per metric (loss first), the training curve and, when logged, the validation curve.

    Args:
        history: what ``fit`` returns (a ``History``) or its ``.history`` dict.
        to_file: where to save the picture (.png, .svg, .pdf); None only returns the figure.
        metrics: the metric names to draw (default: every one logged, without the ``val_`` prefix).
    Returns the matplotlib Figure.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure   # optional dependency, deferred on purpose

    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history expects the History that fit() returns (or its .history dict) with at "
                         f"least one logged metric; got {type(history).__name__}.")
    names = metrics or [k for k in logs if not k.startswith("val_")]
    names = sorted(names, key=lambda k: (k != "loss", list(logs).index(k) if k in logs else 0))
    missing = [k for k in names if k not in logs]
    if missing:
        raise ValueError(f"plot_history: {missing} were not logged; logged: {sorted(logs)}.")
    fig = Figure(figsize=(4.2 * len(names), 3.4), dpi=100)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        epochs = range(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], marker="o", markersize=3, label="train")
        if f"val_{name}" in logs:
            ax.plot(range(1, len(logs[f"val_{name}"]) + 1), logs[f"val_{name}"], marker="o", markersize=3,
                    label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if to_file is not None:
        fig.savefig(to_file)
    return fig
