"""Where a shendu layer keeps its state differently from Keras 3, the file still looks like Keras's.

A layer class can take over its own saving with Keras's hooks (``save_own_variables(store)``,
``load_own_variables(store)``, ``save_assets(dir_path)``, ``load_assets(dir_path)``). For layers
that do not define them, this table supplies them by class name (subclasses included), so the
layers themselves stay plain:

- MultiHeadAttention: Keras keeps the projections in EinsumDense sublayers, so weight
  "<layer>/query/kernel" lives at "<path>/query_dense/vars/0" (see ``SPLIT_LAYOUTS``).
- TextVectorization: an adapted vocabulary has no weight; Keras writes it as the asset
  ``assets/<path>/vocabulary.txt`` (one token per line, special tokens first) and tf_idf weights
  as ``<path>/vars/idf_weights``.
"""
from __future__ import annotations

import os

import numpy as np

from shendu.layers.base import Layer

# projection name in the weight's path -> the Keras attribute holding that EinsumDense sublayer
SPLIT_LAYOUTS = {
    "MultiHeadAttention": {"query": "query_dense", "key": "key_dense", "value": "value_dense",
                           "attention_output": "output_dense", "gate": "_gate_dense"},
}


def _by_class(table: dict, obj):
    for klass in type(obj).__mro__:
        if klass.__name__ in table:
            return table[klass.__name__]
    return None


def split_layout(layer) -> dict | None:
    return _by_class(SPLIT_LAYOUTS, layer)


# ----------------------------------------------------------------------------------- TextVectorization

def _text_vectorization_save_vars(layer, store) -> None:
    idf = getattr(layer, "_idf", None)
    if layer.output_mode == "tf_idf" and idf is not None:
        store["idf_weights"] = np.asarray(idf)


def _text_vectorization_load_vars(layer, store) -> None:
    if layer.output_mode == "tf_idf" and "idf_weights" in store:
        layer._pending_idf = np.asarray(store["idf_weights"])   # applied once the vocabulary is set


def _text_vectorization_save_assets(layer, dir_path) -> None:
    if layer.input_vocabulary is not None or not layer.get_vocabulary(include_special_tokens=False):
        return                                  # a given vocabulary is in the config already
    with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(str(t) for t in layer.get_vocabulary(include_special_tokens=True)))


def _text_vectorization_load_assets(layer, dir_path) -> None:
    path = os.path.join(dir_path, "vocabulary.txt")
    if layer.input_vocabulary is not None or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    idf = layer.__dict__.pop("_pending_idf", None)
    if idf is not None:
        layer.set_vocabulary(lines, idf[:len(lines)])
        layer._idf = idf                        # as saved, padding columns included
    else:
        layer.set_vocabulary(lines)


HOOKS = {
    "TextVectorization": {"save_own_variables": _text_vectorization_save_vars,
                          "load_own_variables": _text_vectorization_load_vars,
                          "save_assets": _text_vectorization_save_assets,
                          "load_assets": _text_vectorization_load_assets},
}


def hook(obj, name: str):
    """The object's own Keras hook ``name`` if its class defines one (the Layer base class's default
    ``save_own_variables``/``load_own_variables`` do not count), else this module's, else None."""
    method = getattr(type(obj), name, None)
    if method is not None and method is not getattr(Layer, name, None):
        return getattr(obj, name)
    table = _by_class(HOOKS, obj)
    if table and name in table:
        return lambda arg: table[name](obj, arg)
    return None
