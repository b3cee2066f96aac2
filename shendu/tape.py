"""``GradientTape``: tf.keras's way to ask for gradients in a custom training loop.

It is a thin view over the same autodiff engine: inside the ``with`` block ops are recorded (as
they always are for tensors that require grad), and ``tape.gradient`` walks that graph back.
"""
from __future__ import annotations

from shendu import autograd, backend
from shendu.tensor import Tensor


class GradientTape:
    """Record ops so ``gradient(target, sources)`` can return d target / d sources.

    Trainable variables (tensors with ``requires_grad=True``) are watched automatically; call
    ``watch(x)`` for any other float tensor. A non-persistent tape answers one ``gradient`` call.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._watched: list[tuple[Tensor, bool]] = []   # (tensor, its requires_grad before watch)
        self._used = False
        self._grad_context = None

    def __enter__(self):
        self._grad_context = autograd.enable_grad()
        self._grad_context.__enter__()
        return self

    def __exit__(self, *exc):
        self._grad_context.__exit__(*exc)
        for t, before in reversed(self._watched):   # watching is for this tape only (undo in reverse: a
            t.requires_grad = before                 # tensor watched twice gets its original flag back)
        return False

    def watch(self, tensor) -> None:
        """Record ops on ``tensor`` (or a list of tensors) even though it is not a trainable variable."""
        for t in tensor if isinstance(tensor, (list, tuple)) else [tensor]:
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.watch expects shendu Tensors, got {type(t).__name__}; "
                                "wrap the array with shendu.tensor(x) first.")
            if t.dtype.kind != "f":
                raise TypeError(f"GradientTape.watch: only float tensors have gradients, got dtype {t.dtype}.")
            self._watched.append((t, t.requires_grad))
            t.requires_grad = True

    def gradient(self, target, sources, output_gradients=None):
        """d target / d sources, shaped like ``sources`` (a list stays a list); None where unconnected."""
        if self._used and not self.persistent:
            raise RuntimeError("A non-persistent GradientTape can compute gradients only once. Use "
                               "GradientTape(persistent=True) to call gradient() several times.")
        self._used = True
        single = isinstance(sources, Tensor)
        flat = [sources] if single else list(sources)
        if not isinstance(target, Tensor) or not target.requires_grad:
            grads = [None] * len(flat)
        else:
            if output_gradients is None:
                g = backend.xp.ones_like(target.data)
            else:
                g = output_gradients.data if isinstance(output_gradients, Tensor) else backend.asarray(
                    output_gradients, target.dtype)
            # the graph is kept: two tapes often share it (the GAN loop's gen_tape and disc_tape both see the
            # discriminator's output); it is freed with the tensors, when they go out of scope
            arrays = autograd.run_backward([target], [g], retain_graph=True, wanted=flat,
                                           accumulate=False)
            grads = [None if a is None else Tensor._wrap(a, False) for a in arrays]
        if single:
            return grads[0]
        return type(sources)(grads) if isinstance(sources, (list, tuple)) else grads


def function(func=None, **kwargs):
    """``@tf.function``: TensorFlow compiles the function to a graph; shendu always runs eagerly, so the
    function is returned unchanged (with or without arguments: ``@function`` or ``@function(...)``)."""
    if func is None:
        return lambda f: f
    return func
