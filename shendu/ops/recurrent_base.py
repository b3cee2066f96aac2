"""What the recurrent ops of ``recurrent.py`` (SimpleRNN, LSTM, GRU) share.

- ``ACTIVATIONS``: each activation the fused ops support, as a pair (f, f') that writes into preallocated
  buffers, f' written with the saved output y = f(z), so backward needs only what forward kept;
- ``time_major`` / ``batch_major``: the ops work on (time, batch, features) arrays, so every step's slice is
  contiguous, and give gradients back as (batch, time, features);
- ``Recurrent``: the base Function: the input projection of all steps at once, masks, the outputs, the
  start of backward and the input gradients, each one matmul (or sum) over all steps;
- ``carry``: splitting a state's gradient at a masked step;
- ``check_inputs`` / ``op_params``: the checks of the functions users call (every shape, named in the
  error) and the op's parameters.
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.ops import recurrent_compiled as compiled
from shendu.tensor import Tensor, as_tensor


def _tanh(z, out):
    return backend.xp.tanh(z, out=out)


def _sigmoid(z, out):
    # σ(z) = (1 + tanh(z/2)) / 2: the same function, with no exp that can overflow for very negative z
    xp = backend.xp
    xp.multiply(z, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _hard_sigmoid(z, out):
    xp = backend.xp
    xp.multiply(z, 1 / 6, out=out)                  # Keras 3: relu6(z + 3) / 6 = clip(z / 6 + 0.5, 0, 1)
    out += 0.5
    return xp.clip(out, 0.0, 1.0, out=out)


def _relu(z, out):
    return backend.xp.maximum(z, 0, out=out)


def _linear(z, out):
    if out is not z:
        out[...] = z
    return out


def _dtanh(y, out=None):
    out = backend.xp.multiply(y, y, out=out)
    return backend.xp.subtract(1, out, out=out)          # 1 - y²


def _dsigmoid(y, out=None):
    out = backend.xp.subtract(1, y, out=out)
    out *= y                                             # y (1 - y)
    return out


def _fill(value, out):
    if out is None:
        return value
    out[...] = value
    return out


# name -> (f(z, out): writes f(z) into out (out may be z),  f'(z, out=None) written with the output y = f(z)):
# the loops run in preallocated buffers, and backward needs only the saved outputs
ACTIVATIONS = {
    "tanh": (_tanh, _dtanh),
    "sigmoid": (_sigmoid, _dsigmoid),
    "hard_sigmoid": (_hard_sigmoid, lambda y, out=None: _fill(((y > 0) & (y < 1)).astype(y.dtype) / 6, out)),
    "relu": (_relu, lambda y, out=None: _fill((y > 0).astype(y.dtype), out)),
    "linear": (_linear, lambda y, out=None: _fill(backend.xp.ones_like(y), out)),
}


def time_major(x, go_backwards, room=0):
    """(batch, time, f) -> contiguous (time, batch, f), in reading order; with ``room``, the first f columns of
    a (time, batch, f + room) array whose last ``room`` columns are left for the caller."""
    xp = backend.xp
    x = x.transpose(1, 0, 2)
    x = x[::-1] if go_backwards else x
    if not room:
        return xp.ascontiguousarray(x)
    out = xp.empty(x.shape[:2] + (x.shape[2] + room,), x.dtype)
    out[..., :x.shape[2]] = x
    return out


def batch_major(a, go_backwards):
    """The inverse of ``time_major``: a time-major gradient back to (batch, time, f)."""
    a = a[::-1] if go_backwards else a
    return backend.xp.ascontiguousarray(a.transpose(1, 0, 2))


class Recurrent(Function):
    """What the three ops share: projecting the inputs, masks, outputs, and the all-steps matmuls.

    Params: activation, recurrent_activation (names in ACTIVATIONS), mask ((batch, time) bool or
    None), go_backwards, return_sequences, zero_output_for_mask, recurrent_mask ((batch, units) or None).
    """

    def _project(self, x, W, b, room=0):
        """x_t W + b for every step in one matmul; the mask in reading order, time-major. With ``room``, x_t
        sits in the first columns of a wider array, the rest left for the caller (see ``time_major``)."""
        xp = backend.xp
        n_in = x.shape[2]
        xt = time_major(x, self.go_backwards, room)                        # (T, B, in [+ room])
        T, B = xt.shape[:2]
        XW = compiled.matmul(xt[..., :n_in].reshape(T * B, n_in), W).reshape(T, B, W.shape[1])
        if b is not None:                      # None: the caller adds b itself (a compiled loop, in its pass)
            XW += b
        m = valid = None
        if self.mask is not None:
            m = self.mask.T[::-1] if self.go_backwards else self.mask.T
            m = xp.ascontiguousarray(m)[..., None]                          # (T, B, 1)
            # the output at t shows h_t once a valid step has been read (Keras repeats the previous
            # output, zeros before the first); with zero_output_for_mask, only at valid steps
            valid = m if self.zero_output_for_mask else xp.cumsum(m, axis=0) > 0
        return xt, XW, m, valid

    def _outputs(self, H, valid):
        """Every step's output (batch, time, units) or the last one's (batch, units), from H[1:]."""
        xp = backend.xp
        if self.return_sequences:
            Y = H[1:] if valid is None else xp.where(valid, H[1:], 0)
            return xp.ascontiguousarray(Y.transpose(1, 0, 2))
        return H[-1].copy() if valid is None else xp.where(valid[-1], H[-1], 0)

    def _start_backward(self, gy, gh, valid, shape, dtype):
        """The per-step output gradients (time-major, or None) and dL/dh_T (an array we own) to start from."""
        xp = backend.xp
        dh = xp.zeros(shape, dtype) if gh is None else gh.copy()
        GY = None
        if gy is not None and self.return_sequences:
            GY = gy.transpose(1, 0, 2)
            if valid is not None:
                GY = xp.where(valid, GY, 0)
        elif gy is not None:
            dh += gy if valid is None else xp.where(valid[-1], gy, 0)
        return GY, dh

    def _input_grads(self, dXW, xt, W, gb=None, kernel=True):
        """dx = dXW Wᵀ, dW = xᵀ dXW (unless ``kernel`` is False: the caller makes it), db = Σ dXW over all
        steps at once (unless a compiled loop summed it: gb)."""
        T, B, k = dXW.shape
        d2 = dXW.reshape(T * B, k)
        gx = None
        if self.needs[0]:
            gx = batch_major(compiled.matmul(d2, W.T).reshape(T, B, W.shape[0]), self.go_backwards)
        gW = compiled.matmul(xt.reshape(T * B, -1).T, d2) if self.needs[1] and kernel else None
        return gx, gW, d2.sum(axis=0) if gb is None else gb


def carry(m, dh):
    """Split dL/dh_t at masked steps (m: (batch, 1) 0/1): the new value keeps dh·m (in place), the
    carried previous state gets dh·(1 - m), returned."""
    keep = dh * (1 - m)
    dh *= m
    return keep


# ---------------------------------------------------------------- for the functions users call
def check_inputs(name, x, kernel, recurrent_kernel, bias, states, gates, mask, activations, bias_shape):
    """Tensors for the op's inputs (zeros for a missing bias or state) after checking every shape."""
    xp = backend.xp
    x, kernel, recurrent_kernel = as_tensor(x), as_tensor(kernel), as_tensor(recurrent_kernel)
    if x.ndim != 3:
        raise ValueError(f"{name} expects a 3-D input (batch, time, features) but got shape {tuple(x.shape)}.")
    if x.shape[1] == 0:
        raise ValueError(f"{name} needs at least one time step, got input of shape {tuple(x.shape)}.")
    units = recurrent_kernel.shape[0]
    if kernel.shape != (x.shape[2], gates * units) or recurrent_kernel.shape != (units, gates * units):
        raise ValueError(f"{name}: for {x.shape[2]} input features and {units} units the kernel must be "
                         f"{(x.shape[2], gates * units)} and the recurrent kernel {(units, gates * units)}, "
                         f"got {tuple(kernel.shape)} and {tuple(recurrent_kernel.shape)}.")
    bias = Tensor._wrap(xp.zeros(bias_shape, x.dtype), False) if bias is None else as_tensor(bias)
    if tuple(bias.shape) != tuple(bias_shape):
        raise ValueError(f"{name}: the bias must have shape {bias_shape}, got {tuple(bias.shape)}.")
    batch = x.shape[0]
    states = [Tensor._wrap(xp.zeros((batch, units), x.dtype), False) if s is None else as_tensor(s) for s in states]
    for s in states:
        if tuple(s.shape) != (batch, units):
            raise ValueError(f"{name}: each initial state must be (batch, units) = {(batch, units)}, "
                             f"got {tuple(s.shape)}.")
    for a in activations:
        if a not in ACTIVATIONS:
            raise ValueError(f"{name}: the fused op supports the activations {sorted(ACTIVATIONS)}, got {a!r}; "
                             f"other activations run step by step through keras.layers.RNN(cell).")
    if mask is not None:
        mask = mask.data if isinstance(mask, Tensor) else backend.asarray(mask)
        mask = mask.astype(bool)
        if mask.shape != tuple(x.shape[:2]):
            raise ValueError(f"{name}: the mask must be (batch, time) = {tuple(x.shape[:2])}, got {mask.shape}.")
    return [x, kernel, recurrent_kernel, bias, *states], mask


def op_params(mask, go_backwards, return_sequences, zero_output_for_mask, recurrent_dropout_mask, **activations):
    """The op's parameters (see ``Recurrent``): flags as bools, the recurrent dropout mask as an array."""
    rm = recurrent_dropout_mask
    rm = rm.data if isinstance(rm, Tensor) else (backend.asarray(rm) if rm is not None else None)
    return dict(mask=mask, go_backwards=bool(go_backwards), return_sequences=bool(return_sequences),
                zero_output_for_mask=bool(zero_output_for_mask), recurrent_mask=rm, **activations)
