"""``model.weights.h5``: every layer's variables at Keras 3's HDF5 group paths.

Keras 3 walks a model as a tree and writes each object's own variables to ``<path>/vars/0``,
``<path>/vars/1``, ... (the group ``<path>/vars`` carries the object's ``name`` attribute, and
exists even when the object has no variables)::

    vars                              the model itself (no variables of its own)
    layers/dense/vars/0, 1            a model's layers, named by snake_case class and numbered on
    layers/dense_1/vars/0, 1            repeats (not by layer name: names change between sessions)
    layers/lstm/cell/vars/0..2        a sublayer, under the attribute that holds it
    layers/sequential/layers/...      a nested model
    optimizer/vars/0..N               iterations, learning rate, then the slots variable by variable

A layer's own variables are numbered trainable first, then non-trainable, each in creation order
(BatchNormalization: gamma, beta, moving_mean, moving_variance). A layer class may take over with
Keras's hooks ``save_own_variables(store)`` / ``load_own_variables(store)`` (see ``adapters``).
State that is not an array (a vocabulary) goes to ``assets/<path>/`` in the ``.keras`` zip through
the hooks ``save_assets(dir_path)`` / ``load_assets(dir_path)``.
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import warnings

import numpy as np

from shendu import backend
from shendu.layers.base import Layer
from shendu.layers.core import InputLayer
from shendu.optimizers import Optimizer
from shendu.saving import adapters
from shendu.saving.config import LoadError
from shendu.saving.files import require_h5py
from shendu.saving.legacy_layout import read_legacy_weights
from shendu.saving.registry import is_model

# attributes that hold layers shendu tracks for its own bookkeeping, not as children Keras would save
_SKIP_ATTRS = {"_sublayers", "_inbound_nodes", "_stack", "_functional_layers", "_nodes", "_initial_weights",
               "_trainable_snapshot", "_own_weights", "_weight_regularizers", "_activity_losses", "_metric_objs",
               "_loss_fns", "_output_loss_trackers", "_loss_tracker", "history", "_inputs_struct",
               "_outputs_struct", "inputs", "outputs", "_build_shape"}


def keras_snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: 'BatchNormalization' -> 'batch_normalization', 'LeakyReLU' -> 'leaky_re_lu'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _name_key(attr: str) -> str:
    return f"~{attr}" if attr.startswith("_") else attr     # Keras visits private attributes last


def _children(obj):
    """(attribute name, child) in Keras's visiting order: a model's layers first, then attributes
    sorted by name; a child is a layer, an optimizer, or a list/dict of layers (a container)."""
    graph = is_model(obj, "Sequential") or is_model(obj, "Functional")
    if graph:
        yield "layers", [l for l in obj.layers if not (is_model(obj, "Sequential") and isinstance(l, InputLayer))]
    if not isinstance(obj, Layer):
        return
    seen = set()
    for attr in sorted(vars(obj), key=_name_key):
        if attr in _SKIP_ATTRS or attr.startswith("__"):
            continue
        value = vars(obj)[attr]
        if attr == "optimizer":
            if isinstance(value, Optimizer) and getattr(obj, "_compiled", False):
                yield attr, value
            continue
        if isinstance(value, Layer):
            seen.add(id(value))
            yield attr, value
        elif isinstance(value, (list, tuple, dict)):
            items = list(value.values()) if isinstance(value, dict) else list(value)
            if items and any(isinstance(v, Layer) for v in items):
                seen.update(id(v) for v in items)
                yield attr, items
    if not graph:
        # sublayers tracked without an attribute of their own (appended by hand): keep their weights too
        rest = [l for l in obj._sublayers if id(l) not in seen]
        if rest:
            yield "_layers", rest


def saveables(model) -> list[tuple[str, object]]:
    """Every (path, object) whose variables the file holds, in Keras's walk order; shared objects once."""
    out, visited = [], set()

    def visit(obj, path):
        if id(obj) in visited:
            return
        visited.add(id(obj))
        out.append((path, obj))
        for attr, child in _children(obj):
            if isinstance(child, (Layer, Optimizer)):
                visit(child, _join(path, attr))
            else:
                container(child, _join(path, attr))

    def container(items, path):
        used: dict[str, int] = {}
        for item in items:
            if isinstance(item, (list, tuple, dict)):
                base = "container"
                item_list = list(item.values()) if isinstance(item, dict) else list(item)
            elif isinstance(item, (Layer, Optimizer)):
                base = keras_snake_case(type(item).__name__)
            else:
                continue
            if base in used:
                used[base] += 1
                name = f"{base}_{used[base]}"
            else:
                used[base] = 0
                name = base
            if base == "container":
                container(item_list, _join(path, name))
            else:
                visit(item, _join(path, name))

    visit(model, "")
    return out


# ----------------------------------------------------------------------------------- own variables

def own_variables(layer) -> list:
    """A layer's own weights in Keras's order: trainable ones, then non-trainable, by creation."""
    return layer.own_variables()


def variable_groups(path: str, layer) -> list[tuple[str, str, list]]:
    """(group path, group name, weights) for one layer: its own ``vars``, split as Keras splits it."""
    layout = adapters.split_layout(layer)
    own = own_variables(layer)
    if layout is None or not own:
        return [(path, layer.name, own)]
    groups: dict[str, list] = {}
    for w in own:
        parts = str(getattr(w, "path", "")).split("/")
        part = parts[-2] if len(parts) >= 3 else None
        if part not in layout:
            return [(path, layer.name, own)]       # not the layout this table knows: keep it whole
        groups.setdefault(part, []).append(w)
    return [(path, layer.name, [])] + [(_join(path, layout[part]), part, ws) for part, ws in groups.items()]


def _keras_variable_order(model, optimizer):
    """The optimizer's variables listed in the order Keras 3 would have built it (the model's
    trainable variables, layers in Keras order), or None when that is not a permutation of them."""
    variables = getattr(optimizer, "_variables", None)
    if not variables or not hasattr(model, "layers"):
        return None
    order, seen = [], set()
    for layer in model.layers:
        for w in layer.trainable_weights:
            if id(w) not in seen:
                seen.add(id(w))
                order.append(w)
    mine = {id(v) for v in variables}
    order = [w for w in order if id(w) in mine]
    return order if len(order) == len(variables) else None


def _optimizer_slot_owners(optimizer):
    """For each array in the optimizer's state list: (index of its variable, slot name), or None."""
    owner = {}
    for i, v in enumerate(optimizer._variables):
        for slot, array in optimizer._slots[id(v)].items():
            owner[id(array)] = (i, slot)
    return [owner.get(id(entry)) if not isinstance(entry, tuple) else None for entry in optimizer._state]


def optimizer_arrays(model, optimizer) -> list[np.ndarray]:
    """The optimizer's state as Keras 3 lays it out: iterations, learning rate, then slots with the
    variables in Keras's order (shendu's own order can differ for functional graphs)."""
    state = optimizer.get_state()
    order = _keras_variable_order(model, optimizer)
    if order is None or all(a is b for a, b in zip(order, optimizer._variables)):
        return state
    head = len(state) - len(optimizer._state)
    out = list(state)
    for k, owner in enumerate(_optimizer_slot_owners(optimizer)):
        if owner is not None:
            i, slot = owner
            out[head + k] = backend.to_numpy(optimizer._slots[id(order[i])][slot]).copy()
    return out


def set_optimizer_arrays(model, optimizer, arrays: list) -> None:
    """Inverse of ``optimizer_arrays``."""
    order = _keras_variable_order(model, optimizer)
    if order is None or all(a is b for a, b in zip(order, optimizer._variables)):
        optimizer.set_state(arrays)
        return
    head = len(arrays) - len(optimizer._state)
    permuted = list(arrays)
    position = {}
    owners = _optimizer_slot_owners(optimizer)
    for k, owner in enumerate(owners):
        if owner is not None:
            position[owner] = head + k
    index = {id(v): i for i, v in enumerate(optimizer._variables)}
    for k, owner in enumerate(owners):
        if owner is not None:
            i, slot = owner
            # file position k holds slot `slot` of Keras's i-th variable, which is shendu's variable order[i]
            permuted[position[(index[id(order[i])], slot)]] = arrays[head + k]
    optimizer.set_state(permuted)


# ----------------------------------------------------------------------------------- stores

class Store:
    """The ``vars`` group of one object, as Keras's store: ``store["0"] = array``; ``store["0"]``."""

    def __init__(self, group):
        self.group = group

    def __setitem__(self, key, value):
        write_dataset(self.group, str(key), value)

    def __getitem__(self, key):
        dataset = self.group[str(key)]
        _check_declared_size(dataset)          # a layer's own loader cannot know the shape to expect
        return np.asarray(dataset)

    def dataset(self, key):
        """The unread dataset: its ``.shape`` is what the file declares, read with ``np.asarray``."""
        return self.group[str(key)]

    def keys(self):
        return sorted(self.group.keys(), key=lambda k: (len(k), k)) if self.group is not None else []

    def __len__(self):
        return len(self.group) if self.group is not None else 0

    def __contains__(self, key):
        return self.group is not None and str(key) in self.group


def _check_declared_size(dataset) -> None:
    """Refuse a dataset that declares far more bytes than the file stores for it: Keras and shendu store
    every array whole, and compression reaches about 1000:1 at most, so only a damaged or hostile file
    declares more (reading it would allocate what it declares)."""
    declared = dataset.size * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if declared > 1024 * stored + 2 ** 20:
        raise LoadError(f"The weights file declares a dataset '{dataset.name}' of shape {dataset.shape} "
                        f"({declared:,} bytes) but stores only {stored:,} bytes of it: the file is damaged or "
                        "hostile, and it is not read.")


def write_dataset(group, key: str, value) -> None:
    """One variable (a separate function so tests can make a save fail midway)."""
    group.create_dataset(key, data=np.asarray(value))


def write_weights(model, h5file, include_optimizer: bool = True) -> None:
    """Write every saveable's variables into an open, empty h5py file."""
    for path, obj in saveables(model):
        if isinstance(obj, Optimizer) and not include_optimizer:
            continue
        group = h5file.create_group(_join(path, "vars"))
        name = getattr(obj, "name", None)
        if isinstance(name, str):
            group.attrs["name"] = name
        store = Store(group)
        if isinstance(obj, Optimizer):
            for i, array in enumerate(optimizer_arrays(model, obj)):
                store[str(i)] = array
        elif adapters.hook(obj, "save_own_variables") is not None:
            adapters.hook(obj, "save_own_variables")(store)
        else:
            groups = variable_groups(path, obj)
            for i, w in enumerate(groups[0][2]):
                store[str(i)] = backend.to_numpy(w.data)
            for sub_path, sub_name, weights in groups[1:]:
                sub = h5file.create_group(_join(sub_path, "vars"))
                sub.attrs["name"] = sub_name
                for i, w in enumerate(weights):
                    write_dataset(sub, str(i), backend.to_numpy(w.data))


def weights_bytes(model, include_optimizer: bool = True) -> bytes:
    """The whole ``model.weights.h5`` as bytes (built in memory, so a failed save writes nothing)."""
    h5py = require_h5py("Saving weights needs h5py (Keras 3's weight files are HDF5)")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write_weights(model, f, include_optimizer)
    return buffer.getvalue()


def _vars_group(h5file, path):
    key = _join(path, "vars")
    return h5file[key] if key in h5file else None


def read_weights(model, h5file, source: str, skip_mismatch: bool = False, load_optimizer: bool = True) -> None:
    """Load every saveable's variables from an open h5py file laid out as ``write_weights`` writes.

    Everything is checked before anything is assigned, so a mismatch leaves the model unchanged
    (unless ``skip_mismatch``: then mismatched layers keep their values, with a warning).
    """
    if "layer_names" in h5file.attrs or ("model_weights" in h5file and "vars" not in h5file):
        read_legacy_weights(model, h5file, source, skip_mismatch)
        return
    assignments, problems, optimizer_loads = [], [], []
    for path, obj in saveables(model):
        if isinstance(obj, Optimizer):
            group = _vars_group(h5file, path)
            if load_optimizer and group is not None:
                store = Store(group)
                optimizer_loads.append((obj, [store.dataset(k) for k in store.keys()]))   # read once checked
            continue
        if adapters.hook(obj, "load_own_variables") is not None:
            assignments.append((adapters.hook(obj, "load_own_variables"), Store(_vars_group(h5file, path))))
            continue
        for group_path, _name, mine in variable_groups(path, obj):
            _check_group(obj, h5file, group_path, mine, source, assignments, problems)
    if problems and not skip_mismatch:
        raise LoadError("Cannot load the weights: " + "; ".join(problems) + ". The file was saved from a model "
                        "with a different architecture: rebuild the same model, or pass skip_mismatch=True to "
                        "load_weights to keep the current values of the layers that do not match.")
    for problem in problems:
        warnings.warn(f"Skipping {problem}.", stacklevel=3)
    for target, value in assignments:
        if callable(target):
            target(value)
        else:
            target.data = backend.asarray(value).astype(target.dtype)
    for optimizer, arrays in optimizer_loads:
        load_optimizer_state(model, optimizer, arrays, source)


def _check_group(layer, h5file, path, mine, source, assignments, problems) -> None:
    """Compare one ``vars`` group with the layer's weights; queue the assignment or record the problem."""
    group = _vars_group(h5file, path)
    store = Store(group)
    kind = type(layer).__name__
    if len(store) != len(mine):
        problems.append(
            f"layer '{layer.name}' ({kind}) has {len(mine)} weight(s) {[tuple(w.shape) for w in mine]} but "
            f"{source} holds {len(store)} at '{_join(path, 'vars')}'"
            + ("" if group is not None else " (the group is missing: the file is from another architecture)"))
        return
    # compare the shapes the file declares before reading: a small file may declare a huge dataset
    datasets = [store.dataset(i) for i in range(len(mine))]
    bad = [(i, w, d) for i, (w, d) in enumerate(zip(mine, datasets)) if tuple(w.shape) != tuple(d.shape)]
    if bad:
        problems.extend(
            f"layer '{layer.name}' ({kind}) weight '{w.name}' at '{_join(path, 'vars')}/{i}' expects shape "
            f"{tuple(w.shape)} but {source} has shape {tuple(d.shape)}" for i, w, d in bad)
        return
    assignments.extend(zip(mine, [np.asarray(d) for d in datasets]))


def load_optimizer_state(model, optimizer, arrays: list, source: str) -> None:
    """Build the optimizer's slots on the model's trainable variables (as a first step would), then
    restore iterations, learning rate and slots. A file from another optimizer is skipped, as Keras does."""
    variables = getattr(model, "_trainable_snapshot", None) or list(model.trainable_weights)
    if variables and not getattr(optimizer, "built", False):
        optimizer.build(list(variables))
    state = optimizer.get_state()
    expected = len(state)
    if len(arrays) == expected - 1 and isinstance(getattr(optimizer, "_learning_rate", None), float):
        # tf.keras 2's '.keras' files keep the learning rate in the config, not among the variables
        arrays = [arrays[0], np.asarray(optimizer._learning_rate)] + list(arrays[1:])
    if len(arrays) != expected:
        warnings.warn(f"Skipping the optimizer state in {source}: {type(optimizer).__name__} '{optimizer.name}' "
                      f"has {expected} state arrays but the file holds {len(arrays)} (saved with another optimizer "
                      "or model). Training continues from a fresh optimizer.", stacklevel=3)
        return
    # arrays may be unread h5py datasets: np.shape reads the declared shape only, so an array of a shape
    # no slot has is refused before it is read (slots may come in another order, hence the set)
    shapes = {np.shape(a) for a in state}
    strange = [np.shape(a) for a in arrays if np.shape(a) not in shapes]
    if strange:
        warnings.warn(f"Skipping the optimizer state in {source}: it holds arrays of shapes {strange}, which no "
                      f"state array of {type(optimizer).__name__} '{optimizer.name}' has (saved with another "
                      "model). Training continues from a fresh optimizer.", stacklevel=3)
        return
    arrays = [np.asarray(a) for a in arrays]
    try:
        set_optimizer_arrays(model, optimizer, arrays)
    except ValueError as e:
        warnings.warn(f"Skipping the optimizer state in {source}: {e}", stacklevel=3)


# ----------------------------------------------------------------------------------- assets

def _asset_prefix(path: str) -> str:
    return f"assets/{path}/" if path else "assets/"


def asset_members(model) -> dict[str, bytes]:
    """{"assets/<path>/<file>": bytes} from every object's ``save_assets(dir_path)`` hook."""
    members = {}
    for path, obj in saveables(model):
        save = adapters.hook(obj, "save_assets")
        if save is None:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            save(tmp)
            for root, _dirs, files in os.walk(tmp):
                for name in sorted(files):
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, tmp).replace(os.sep, "/")
                    with open(full, "rb") as f:
                        members[_asset_prefix(path) + rel] = f.read()
    return members


def load_asset_members(model, members: dict[str, bytes]) -> None:
    """Hand each object the files under ``assets/<its path>/`` through its ``load_assets(dir_path)`` hook."""
    for path, obj in saveables(model):
        load = adapters.hook(obj, "load_assets")
        if load is None:
            continue
        prefix = _asset_prefix(path)
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in members.items():
                rel = name[len(prefix):] if name.startswith(prefix) else None
                if not rel or "/" in rel or rel.startswith("."):
                    continue                  # this object's own files only; never a path out of tmp
                with open(os.path.join(tmp, rel), "wb") as f:
                    f.write(data)
            load(tmp)
