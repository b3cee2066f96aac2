"""Recurrent networks over a whole sequence, each as ONE fused op: SimpleRNN, LSTM and GRU.

One op per sequence rather than one small graph per step: the per-step graph costs Python time
and memory, while backpropagation through time (BPTT) is just a reverse loop. So each op

- projects every step's input at once, XW = x W + b: one (time·batch, in) @ (in, k·units) matmul
  hoisted out of the time loop; each step then adds ONE fused gate matmul h_{t-1} U;
- keeps the per-step arrays backward needs (states, gate activations) in preallocated buffers;
- in backward walks the steps in reverse on those arrays, gathering dZ, the gradient of every
  step's pre-activations; dx, dW, dU and db are then one matmul (or sum) each over all steps.

The all-steps matmuls (``_matmul``) run in the recurrent loops' own threads, each one BLAS thread on its
rows: a multi-threaded BLAS call leaves its worker threads spinning for a while after it returns, and on a
2-core machine such a thread took the core the next time loop's second half needed (measured: it used
100 % of a core through the whole LSTM training step).

Inside, arrays are time-major, (time, batch, features), so every step's slice is contiguous.
Weights use Keras's layouts: W (in, k·units), U (units, k·units), the k gate blocks side by side.

Masks follow Keras: at a masked step (mask False) the states are carried unchanged and the output
repeats the previous output (zeros before the first valid step; zeros at every masked step with
``zero_output_for_mask``). ``go_backwards`` reads the sequence from its end and returns the
outputs in that reversed order, as Keras does. ``recurrent_dropout_mask`` (batch, units) scales
h_{t-1} where it meets U, the same mask at every step (variational dropout, Gal & Ghahramani 2016).
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function, is_grad_enabled
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


def _rows_matmul(a, b, out, r0, r1):
    """out[r0:r1] = a[r0:r1] @ b: one part of ``_matmul`` (NumPy releases the GIL inside BLAS)."""
    backend.xp.matmul(a[r0:r1], b, out=out[r0:r1])


def _inner_matmul(a, b, out, p, parts):
    """out[p] = a[:, k0:k1] @ b[k0:k1] for the p-th range (k0, k1) of ``parts``: one part of ``_matmul``."""
    k0, k1 = parts[p]
    backend.xp.matmul(a[:, k0:k1], b[k0:k1], out=out[p])


def _matmul(a, b):
    """a @ b for the (time·batch)-sized products, split over the allowed threads as the time loops split the
    batch (``recurrent_compiled.batch_parts``), each part a one-thread BLAS call: a tall ``a`` (x W, dZ Wᵀ)
    by its rows; a wide one (xᵀ dZ, hᵀ dZ: a few rows, time·batch columns) by the time·batch sum, whose
    partial products are then added (by rows, each thread would pack all of the large ``b``)."""
    xp = backend.xp
    if xp.__name__ == "numpy" and a.ndim == 2 and b.ndim == 2:
        M, K = a.shape
        with compiled.one_blas_thread() as limiter:
            parts = compiled.batch_parts(max(M, K), limiter)
            if len(parts) > 1 and M >= K:
                out = xp.empty((M, b.shape[1]), xp.result_type(a, b))
                if compiled.run(_rows_matmul, parts, lambda p: (a, b, out)):
                    return out
            elif len(parts) > 1:
                out = xp.empty((len(parts), M, b.shape[1]), xp.result_type(a, b))
                if compiled.run(_inner_matmul, [(p, parts) for p in range(len(parts))], lambda p: (a, b, out)):
                    return out.sum(axis=0)
    return a @ b


def _time_major(x, go_backwards):
    """(batch, time, f) -> contiguous (time, batch, f), in reading order."""
    x = x.transpose(1, 0, 2)
    return backend.xp.ascontiguousarray(x[::-1] if go_backwards else x)


def _batch_major(a, go_backwards):
    """The inverse of ``_time_major``: a time-major gradient back to (batch, time, f)."""
    a = a[::-1] if go_backwards else a
    return backend.xp.ascontiguousarray(a.transpose(1, 0, 2))


class _Recurrent(Function):
    """What the three ops share: projecting the inputs, masks, outputs, and the all-steps matmuls.

    Params: activation, recurrent_activation (names in ACTIVATIONS), mask ((batch, time) bool or
    None), go_backwards, return_sequences, zero_output_for_mask, recurrent_mask ((batch, units) or None).
    """

    def _project(self, x, W, b):
        """x_t W + b for every step in one matmul; the mask in reading order, time-major."""
        xp = backend.xp
        xt = _time_major(x, self.go_backwards)                             # (T, B, in)
        T, B, n_in = xt.shape
        XW = _matmul(xt.reshape(T * B, n_in), W).reshape(T, B, W.shape[1])
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

    def _input_grads(self, dXW, xt, W, gb=None):
        """dx = dXW Wᵀ, dW = xᵀ dXW, db = Σ dXW over all steps at once (unless a compiled loop summed it: gb)."""
        T, B, k = dXW.shape
        d2 = dXW.reshape(T * B, k)
        gx = _batch_major(_matmul(d2, W.T).reshape(T, B, W.shape[0]), self.go_backwards) if self.needs[0] else None
        gW = _matmul(xt.reshape(T * B, -1).T, d2) if self.needs[1] else None
        return gx, gW, d2.sum(axis=0) if gb is None else gb


def _carry(m, dh):
    """Split dL/dh_t at masked steps (m: (batch, 1) 0/1): the new value keeps dh·m (in place), the
    carried previous state gets dh·(1 - m), returned."""
    keep = dh * (1 - m)
    dh *= m
    return keep


class SimpleRNN(_Recurrent):
    """h_t = act(x_t W + h_{t-1} U + b);   dz_t = dh_t ⊙ act'(h_t),  dh_{t-1} = dz_t Uᵀ"""
    def forward(self, x, W, U, b, h0):
        xp = backend.xp
        act = ACTIVATIONS[self.activation][0]
        xt, XW, m, valid = self._project(x, W, b)
        T, B, u = XW.shape
        H = xp.empty((T + 1, B, u), XW.dtype)          # H[0] = h0, H[t + 1] = h_t
        H[0] = h0
        rm = self.recurrent_mask
        with compiled.one_blas_thread():
            for t in range(T):
                h = H[t + 1]
                xp.matmul(H[t] if rm is None else H[t] * rm, U, out=h)
                h += XW[t]
                act(h, out=h)
                if m is not None:
                    xp.copyto(h, H[t], where=~m[t])                       # a masked step carries h
        self.save(xt, W, U, H, m, valid)
        return self._outputs(H, valid), H[-1].copy()

    def backward(self, gy, gh):
        xp = backend.xp
        xt, W, U, H, m, valid = self.saved
        dact = ACTIVATIONS[self.activation][1]
        T, B, u = H.shape[0] - 1, H.shape[1], H.shape[2]
        D = dact(H[1:])                       # act'(z_t) of every step at once (unused where masked)
        GY, dh = self._start_backward(gy, gh, valid, (B, u), H.dtype)
        mf = None if m is None else m.astype(H.dtype)
        dZ = xp.empty((T, B, u), H.dtype)
        UT, rm = xp.ascontiguousarray(U.T), self.recurrent_mask
        with compiled.one_blas_thread():
            for t in reversed(range(T)):
                if GY is not None:
                    dh += GY[t]
                if m is not None:
                    keep = _carry(mf[t], dh)
                xp.multiply(dh, D[t], out=dZ[t])                             # dz_t = dh_t ⊙ act'(z_t)
                xp.matmul(dZ[t], UT, out=dh)                                 # dh_{t-1} = dz_t Uᵀ
                if rm is not None:
                    dh *= rm
                if m is not None:
                    dh += keep
        Hp = H[:-1] if rm is None else H[:-1] * rm
        gU = _matmul(Hp.reshape(T * B, u).T, dZ.reshape(T * B, u)) if self.needs[2] else None
        gx, gW, gb = self._input_grads(dZ, xt, W)
        return gx, gW, gU, gb, dh


def _lstm_order(u):
    """Column order o, i, f, c̃ from Keras's i, f, c, o: forward's three σ gates (o, i, f) and backward's
    three blocks scaled by dc (i, f, c̃) each become one contiguous slice, one call per step."""
    xp = backend.xp
    return xp.concatenate([xp.arange(3 * u, 4 * u), xp.arange(0, 3 * u)])


class LSTM(_Recurrent):
    """Long short-term memory, Keras gate order i, f, c, o in the column blocks of W, U and b.

    i = σ(x W_i + h U_i + b_i),  f = σ(x W_f + h U_f + b_f),  c̃ = tanh(x W_c + h U_c + b_c),
    o = σ(x W_o + h U_o + b_o)
    c_t = f ⊙ c_{t-1} + i ⊙ c̃;   h_t = o ⊙ tanh(c_t)
    Backward per step, in reverse: dc += dh ⊙ o ⊙ tanh'(c_t);  dz_o = dh ⊙ tanh(c_t) ⊙ σ'(o);
    [dz_i, dz_f, dz_c] = dc ⊙ [c̃ ⊙ σ'(i), c_{t-1} ⊙ σ'(f), i ⊙ tanh'(c̃)];  dh_{t-1} = dz Uᵀ;  dc_{t-1} = dc ⊙ f
    (σ is recurrent_activation and tanh is activation; both configurable.) The local factors
    (K = o ⊙ tanh'(c_t), S_o and S) depend on no gradient, so backward forms them for all steps at once
    before its loop. Inside, the columns are reordered to o, i, f, c̃ (see ``_lstm_order``); gradients go
    back in Keras's order.

    With the default activations one tanh call gives all four gates: σ(z) = (1 + tanh(z/2)) / 2, so the
    σ gates' columns of W, U and b are pre-scaled by 1/2 and a step is one matmul, one add, one tanh and
    the σ gates' affine map. With numba installed (the "fast" extra) and those activations, each time loop
    is one compiled call (``recurrent_kernels.lstm_forward`` / ``lstm_backward``, batch rows split over the
    allowed threads); otherwise ``_steps`` / ``_steps_backward`` make 10 NumPy calls per forward step, 6 per
    backward step. The two give the same numbers (tests/ops/test_recurrent_kernels.py).
    """

    def forward(self, x, W, U, b, h0, c0):
        xp = backend.xp
        u = U.shape[0]
        order = _lstm_order(u)
        fused = self.activation == "tanh" and self.recurrent_activation == "sigmoid"
        W_, U_, b_ = W[:, order], U[:, order], b[order]                     # fresh copies: ours to scale
        if fused:                                                           # σ(z) = (1 + tanh(z/2)) / 2
            W_[:, :3 * u] *= 0.5
            U_[:, :3 * u] *= 0.5
            b_[:3 * u] *= 0.5
        kernels = compiled.kernels(xp.result_type(x, W_)) if fused else None
        xt, XW, m, valid = self._project(x, W_, None if kernels else b_)
        T, B = XW.shape[:2]
        H = xp.empty((T + 1, B, u), XW.dtype)
        C = xp.empty((T + 1, B, u), XW.dtype)
        H[0], C[0] = h0, c0
        G = xp.empty((T, B, 4 * u), XW.dtype)          # gate activations o, i, f, c̃ of every step
        A = xp.empty((T, B, u), XW.dtype)              # tanh(c_t)
        rm = self.recurrent_mask
        array = compiled.kernel_array
        with compiled.one_blas_thread() as limiter:
            args = (XW, array(b_, XW.dtype, 1), array(U_, XW.dtype, 2), H, C, G, A, compiled.kernel_mask(m),
                    array(rm, XW.dtype, 2))
            parts = compiled.batch_parts(B, limiter)
            if not (kernels and compiled.run(kernels.lstm_forward, parts, lambda p: args)):
                if kernels:
                    XW += b_
                self._steps(XW, U_, H, C, G, A, m, fused)
        if self.keep_grads:
            self.save(xt, W, U, H, C, G, A, m, valid)
        return self._outputs(H, valid), H[-1].copy(), C[-1].copy()

    def _steps(self, XW, U_, H, C, G, A, m, fused):
        """The forward recurrence in NumPy, one step at a time (see ``forward``; fills H, C, G and A)."""
        xp = backend.xp
        (act, _), (gate, _) = ACTIVATIONS[self.activation], ACTIVATIONS[self.recurrent_activation]
        T, B = XW.shape[:2]
        u = U_.shape[0]
        rm = self.recurrent_mask
        ic = xp.empty((B, u), XW.dtype)
        for t in range(T):
            g = G[t]
            xp.matmul(H[t] if rm is None else H[t] * rm, U_, out=g)    # one fused gate matmul per step
            g += XW[t]
            if fused:
                xp.tanh(g, out=g)                                       # c̃ = tanh(z), and tanh(z/2) ...
                s = g[:, :3 * u]
                s *= 0.5
                s += 0.5                                                # ... made o, i, f = σ(z)
            else:
                gate(g[:, :3 * u], out=g[:, :3 * u])                    # o, i, f = σ(...)
                act(g[:, 3 * u:], out=g[:, 3 * u:])                     # c̃ = tanh(...)
            c = C[t + 1]
            xp.multiply(g[:, 2 * u:3 * u], C[t], out=c)                 # c_t = f ⊙ c_{t-1} + i ⊙ c̃
            xp.multiply(g[:, u:2 * u], g[:, 3 * u:], out=ic)
            c += ic
            act(c, out=A[t])
            xp.multiply(g[:, :u], A[t], out=H[t + 1])                   # h_t = o ⊙ tanh(c_t)
            if m is not None:                                           # a masked step carries h and c
                xp.copyto(c, C[t], where=~m[t])
                xp.copyto(H[t + 1], H[t], where=~m[t])

    def _factors(self, C, G, A):
        """Every step's local derivatives at once: S (T, B, 3, u) scales dc into dz_i, dz_f, dz_c; S_o scales
        dh into dz_o; K = o ⊙ tanh'(c_t) carries dh into dc."""
        xp = backend.xp
        dact, dgate = ACTIVATIONS[self.activation][1], ACTIVATIONS[self.recurrent_activation][1]
        T, B, u = A.shape
        o, i, f, cc = (G[..., k * u:(k + 1) * u] for k in range(4))
        dg = dgate(G[..., :3 * u])                                          # σ'(o), σ'(i), σ'(f)
        S = xp.empty((T, B, 3, u), G.dtype)
        xp.multiply(dg[..., u:2 * u], cc, out=S[:, :, 0])                   # c̃ ⊙ σ'(i)
        xp.multiply(dg[..., 2 * u:], C[:-1], out=S[:, :, 1])                # c_{t-1} ⊙ σ'(f)
        dact(cc, out=S[:, :, 2])
        S[:, :, 2] *= i                                                     # i ⊙ tanh'(c̃)
        S_o = dg[..., :u] * A                                               # tanh(c_t) ⊙ σ'(o)
        K = dact(A)
        K *= o                                                              # o ⊙ tanh'(c_t)
        return S, S_o, K, f

    def backward(self, gy, gh, gc):
        xp = backend.xp
        xt, W, U, H, C, G, A, m, valid = self.saved
        T, B, u = G.shape[0], G.shape[1], G.shape[2] // 4
        GY, dh = self._start_backward(gy, gh, valid, (B, u), G.dtype)
        dc = xp.zeros((B, u), G.dtype) if gc is None else gc.astype(G.dtype)      # a copy: ours to update
        dZ = xp.empty_like(G)
        order = _lstm_order(u)
        UT, rm = xp.ascontiguousarray(U[:, order].T, G.dtype), self.recurrent_mask
        fused = (self.activation, self.recurrent_activation) == ("tanh", "sigmoid")
        kernels = compiled.kernels(G.dtype) if fused else None
        dh = xp.ascontiguousarray(dh, G.dtype)
        gb_ = None
        with compiled.one_blas_thread() as limiter:
            parts = compiled.batch_parts(B, limiter)
            dbs = xp.zeros((len(parts), 4 * u), G.dtype)           # each thread's share of the bias gradient
            array = compiled.kernel_array
            args = (G, C, A, UT, array(GY, G.dtype, 3), compiled.kernel_mask(m), array(rm, G.dtype, 2), dh, dc, dZ)
            if kernels and compiled.run(kernels.lstm_backward, parts, lambda p: args + (dbs[p],)):
                gb_ = dbs.sum(axis=0)
            else:
                self._steps_backward(GY, dh, dc, dZ, UT, C, G, A, m)
        gU = None
        if self.needs[2]:
            Hp = H[:-1] if rm is None else H[:-1] * rm
            gU = xp.empty_like(U)
            gU[:, order] = _matmul(Hp.reshape(T * B, u).T, dZ.reshape(T * B, 4 * u))   # back to Keras's column order
        gx, gW_, gb_ = self._input_grads(dZ, xt, W[:, order], gb_)
        gW = None
        if gW_ is not None:
            gW = xp.empty_like(W)
            gW[:, order] = gW_
        gb = xp.empty_like(gb_)
        gb[order] = gb_
        return gx, gW, gU, gb, dh, dc

    def _steps_backward(self, GY, dh, dc, dZ, UT, C, G, A, m):
        """Backpropagation through time in NumPy, one step at a time (see ``backward``; fills dZ, updates dh, dc)."""
        xp = backend.xp
        T, B, u = A.shape
        S, S_o, K, f = self._factors(C, G, A)
        mf = None if m is None else m.astype(G.dtype)
        tmp = xp.empty((B, u), G.dtype)
        rm = self.recurrent_mask
        for t in reversed(range(T)):
            if GY is not None:
                dh += GY[t]
            if m is not None:
                keep_h, keep_c = _carry(mf[t], dh), _carry(mf[t], dc)
            dz = dZ[t]
            xp.multiply(dh, K[t], out=tmp)
            dc += tmp                                                     # dc += dh ⊙ o ⊙ tanh'(c_t)
            xp.multiply(dh, S_o[t], out=dz[:, :u])                        # dz_o
            xp.multiply(dc[:, None, :], S[t], out=dz.reshape(B, 4, u)[:, 1:])   # dz_i, dz_f, dz_c
            dc *= f[t]                                                    # dc_{t-1} = dc ⊙ f
            xp.matmul(dz, UT, out=dh)                                     # dh_{t-1} = dz Uᵀ
            if rm is not None:
                dh *= rm
            if m is not None:
                dh += keep_h
                dc += keep_c


class GRU(_Recurrent):
    """Gated recurrent unit, Keras gate order z, r, h and Keras's h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃.

    z = σ(x W_z + h U_z + b_z) update gate;  r = σ(x W_r + h U_r + b_r) reset gate
    reset_after=True (Keras default, cuDNN/PyTorch form, bias (2, 3·units): input row, recurrent row):
        h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + b_rh))
    reset_after=False (bias (3·units,)):  h̃ = tanh(x W_h + (r ⊙ h) U_h + b_h)
    Backward per step: dz = dh ⊙ (h_{t-1} - h̃),  dh̃ = dh ⊙ (1 - z),  dh_{t-1} = dh ⊙ z + (the paths through U)
    """
    def forward(self, x, W, U, b, h0):
        xp = backend.xp
        b_in, b_rec = (b[0], b[1]) if self.reset_after else (b, None)
        xt, XW, m, valid = self._project(x, W, b_in)
        T, B, u = XW.shape[0], XW.shape[1], U.shape[0]
        H = xp.empty((T + 1, B, u), XW.dtype)
        H[0] = h0
        ZR = xp.empty((T, B, 2 * u), XW.dtype)         # update and reset gates of every step
        HH = xp.empty((T, B, u), XW.dtype)             # candidates h̃
        P = xp.empty((T, B, u), XW.dtype)              # what r multiplies: h U_h + b_rh (after) or h (before)
        rm = self.recurrent_mask
        fast = self.reset_after and (self.activation, self.recurrent_activation) == ("tanh", "sigmoid")
        kernels = compiled.kernels(XW.dtype) if fast else None
        array = compiled.kernel_array
        with compiled.one_blas_thread() as limiter:
            args = (XW, array(U, XW.dtype, 2), array(b_rec, XW.dtype, 1), H, ZR, HH, P, compiled.kernel_mask(m),
                    array(rm, XW.dtype, 2))
            parts = compiled.batch_parts(B, limiter)
            if not (kernels and compiled.run(kernels.gru_forward, parts, lambda p: args)):
                self._steps(XW, U, b_rec, H, ZR, HH, P, m)
        self.save(xt, W, U, H, ZR, HH, P, m, valid)
        return self._outputs(H, valid), H[-1].copy()

    def _steps(self, XW, U, b_rec, H, ZR, HH, P, m):
        """The forward recurrence in NumPy, one step at a time (see ``forward``; fills H, ZR, HH and P)."""
        xp = backend.xp
        act, gate = ACTIVATIONS[self.activation][0], ACTIVATIONS[self.recurrent_activation][0]
        T, B, u = XW.shape[0], XW.shape[1], U.shape[0]
        R = xp.empty((B, 3 * u), XW.dtype)
        U_zr, U_h = xp.ascontiguousarray(U[:, :2 * u]), xp.ascontiguousarray(U[:, 2 * u:])
        rm = self.recurrent_mask
        for t in range(T):
            h_prev = H[t] if rm is None else H[t] * rm
            zr, hh, h = ZR[t], HH[t], H[t + 1]
            if self.reset_after:
                xp.matmul(h_prev, U, out=R)                                  # one fused matmul for z, r, h̃
                R += b_rec
                xp.add(XW[t, :, :2 * u], R[:, :2 * u], out=zr)
                P[t] = R[:, 2 * u:]
            else:
                xp.matmul(h_prev, U_zr, out=zr)
                zr += XW[t, :, :2 * u]
                P[t] = h_prev
            gate(zr, out=zr)                                                 # z, r = σ(...)
            if self.reset_after:
                xp.multiply(zr[:, u:], P[t], out=hh)              # h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + b_rh))
            else:
                xp.matmul(zr[:, u:] * h_prev, U_h, out=hh)        # h̃ = tanh(x W_h + (r ⊙ h) U_h + b_h)
            hh += XW[t, :, 2 * u:]
            act(hh, out=hh)
            xp.subtract(H[t], hh, out=h)                                     # h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃
            h *= zr[:, :u]
            h += hh
            if m is not None:
                xp.copyto(h, H[t], where=~m[t])

    def backward(self, gy, gh):
        xp = backend.xp
        xt, W, U, H, ZR, HH, P, m, valid = self.saved
        T, B, u = HH.shape
        GY, dh = self._start_backward(gy, gh, valid, (B, u), HH.dtype)
        dh = xp.ascontiguousarray(dh, HH.dtype)
        dXW = xp.empty((T, B, 3 * u), HH.dtype)         # gradient of x W + b_in
        dR = xp.empty((T, B, 3 * u), HH.dtype) if self.reset_after else None   # ... of h U + b_rec
        UT = xp.ascontiguousarray(U.T, HH.dtype)
        rm = self.recurrent_mask
        fast = self.reset_after and (self.activation, self.recurrent_activation) == ("tanh", "sigmoid")
        kernels = compiled.kernels(HH.dtype) if fast else None
        gb_in = gb_rec = None
        array = compiled.kernel_array
        with compiled.one_blas_thread() as limiter:
            parts = compiled.batch_parts(B, limiter)
            dbs = xp.zeros((2, len(parts), 3 * u), HH.dtype)      # each thread's share of the bias gradients
            args = (ZR, HH, P, H, UT, array(GY, HH.dtype, 3), compiled.kernel_mask(m), array(rm, HH.dtype, 2), dh,
                    dXW, dR)
            if kernels and compiled.run(kernels.gru_backward, parts, lambda p: args + (dbs[0, p], dbs[1, p])):
                gb_in, gb_rec = dbs.sum(axis=1)
            else:
                self._steps_backward(GY, dh, dXW, dR, UT, H, ZR, HH, P, m)
        gU = gb = None
        Hp = (H[:-1] if rm is None else H[:-1] * rm).reshape(T * B, u)
        if self.reset_after:
            if self.needs[2]:
                gU = _matmul(Hp.T, dR.reshape(T * B, 3 * u))
            gx, gW, gb_in = self._input_grads(dXW, xt, W, gb_in)
            gb = xp.stack([gb_in, dR.reshape(T * B, 3 * u).sum(axis=0) if gb_rec is None else gb_rec])
        else:
            if self.needs[2]:
                rh = (P * ZR[..., u:]).reshape(T * B, u)
                gU = xp.concatenate([_matmul(Hp.T, dXW[..., :2 * u].reshape(T * B, 2 * u)),
                                     _matmul(rh.T, dXW[..., 2 * u:].reshape(T * B, u))], axis=1)
            gx, gW, gb = self._input_grads(dXW, xt, W)
        return gx, gW, gU, gb, dh

    def _steps_backward(self, GY, dh, dXW, dR, UT, H, ZR, HH, P, m):
        """Backpropagation through time in NumPy, one step at a time (see ``backward``; fills dXW and dR,
        updates dh)."""
        xp = backend.xp
        dact, dgate = ACTIVATIONS[self.activation][1], ACTIVATIONS[self.recurrent_activation][1]
        T, B, u = HH.shape
        D, DH = dgate(ZR), dact(HH)                     # gate and candidate derivatives of every step
        mf = None if m is None else m.astype(HH.dtype)
        U_zrT, U_hT = UT[:2 * u], UT[2 * u:]
        rm = self.recurrent_mask
        for t in reversed(range(T)):
            if GY is not None:
                dh += GY[t]
            if m is not None:
                keep = _carry(mf[t], dh)
            z, r, dx = ZR[t, :, :u], ZR[t, :, u:], dXW[t]
            xp.subtract(H[t], HH[t], out=dx[:, :u])
            dx[:, :u] *= dh                                                  # dz = dh ⊙ (h_{t-1} - h̃)
            xp.subtract(dh, dh * z, out=dx[:, 2 * u:])                       # dh̃ = dh ⊙ (1 - z)
            dx[:, 2 * u:] *= DH[t]
            if self.reset_after:
                xp.multiply(dx[:, 2 * u:], P[t], out=dx[:, u:2 * u])        # dr = dh̃ ⊙ (h U_h + b_rh)
                dx[:, :2 * u] *= D[t]
                dr = dR[t]
                dr[:, :2 * u] = dx[:, :2 * u]
                xp.multiply(dx[:, 2 * u:], r, out=dr[:, 2 * u:])
                dh_prev = dr @ UT
            else:
                drh = dx[:, 2 * u:] @ U_hT                                  # gradient of r ⊙ h
                xp.multiply(drh, P[t], out=dx[:, u:2 * u])                  # dr = d(r ⊙ h) ⊙ h
                dx[:, :2 * u] *= D[t]
                dh_prev = dx[:, :2 * u] @ U_zrT
                drh *= r
                dh_prev += drh
            if rm is not None:
                dh_prev *= rm
            dh *= z
            dh += dh_prev                                                    # dh_{t-1} = dh ⊙ z + paths through U
            if m is not None:
                dh += keep


# ---------------------------------------------------------------- the functions users call
def _check(name, x, kernel, recurrent_kernel, bias, states, gates, mask, activations, bias_shape):
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


def _params(mask, go_backwards, return_sequences, zero_output_for_mask, recurrent_dropout_mask, **activations):
    rm = recurrent_dropout_mask
    rm = rm.data if isinstance(rm, Tensor) else (backend.asarray(rm) if rm is not None else None)
    return dict(mask=mask, go_backwards=bool(go_backwards), return_sequences=bool(return_sequences),
                zero_output_for_mask=bool(zero_output_for_mask), recurrent_mask=rm, **activations)


def simple_rnn(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, activation: str = "tanh",
               go_backwards: bool = False, return_sequences: bool = False, zero_output_for_mask: bool = False,
               recurrent_dropout_mask=None) -> tuple:
    """h_t = act(x_t W + h_{t-1} U + b) over ``x`` (batch, time, features).

    Returns ``(output, h)``: output is (batch, units), or (batch, time, units) with ``return_sequences``.
    ``mask`` (batch, time) is True at the steps to read; ``initial_state`` is h0 (zeros when None).
    """
    inputs, mask = _check("simple_rnn", x, kernel, recurrent_kernel, bias, [initial_state], 1, mask, [activation],
                          (as_tensor(recurrent_kernel).shape[0],))
    return SimpleRNN.apply(*inputs, **_params(mask, go_backwards, return_sequences, zero_output_for_mask,
                                              recurrent_dropout_mask, activation=activation))


def lstm(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, activation: str = "tanh",
         recurrent_activation: str = "sigmoid", go_backwards: bool = False, return_sequences: bool = False,
         zero_output_for_mask: bool = False, recurrent_dropout_mask=None) -> tuple:
    """The LSTM over ``x`` (batch, time, features); weights in Keras's layout, gates i, f, c, o.

    Returns ``(output, h, c)``; ``initial_state`` is ``[h0, c0]`` (zeros when None).
    """
    states = list(initial_state) if initial_state is not None else [None, None]
    units = as_tensor(recurrent_kernel).shape[0]
    inputs, mask = _check("lstm", x, kernel, recurrent_kernel, bias, states, 4, mask,
                          [activation, recurrent_activation], (4 * units,))
    # the backward factors are formed in forward only when a gradient will be asked for
    keep_grads = is_grad_enabled() and any(t.requires_grad for t in inputs)
    return LSTM.apply(*inputs, **_params(mask, go_backwards, return_sequences, zero_output_for_mask,
                                         recurrent_dropout_mask, activation=activation,
                                         recurrent_activation=recurrent_activation, keep_grads=keep_grads))


def gru(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, activation: str = "tanh",
        recurrent_activation: str = "sigmoid", reset_after: bool = True, go_backwards: bool = False,
        return_sequences: bool = False, zero_output_for_mask: bool = False, recurrent_dropout_mask=None) -> tuple:
    """The GRU over ``x`` (batch, time, features); weights in Keras's layout, gates z, r, h.

    Returns ``(output, h)``. The bias is (2, 3·units) with ``reset_after`` (input row, recurrent row),
    else (3·units,).
    """
    units = as_tensor(recurrent_kernel).shape[0]
    inputs, mask = _check("gru", x, kernel, recurrent_kernel, bias, [initial_state], 3, mask,
                          [activation, recurrent_activation], (2, 3 * units) if reset_after else (3 * units,))
    return GRU.apply(*inputs, **_params(mask, go_backwards, return_sequences, zero_output_for_mask,
                                        recurrent_dropout_mask, activation=activation,
                                        recurrent_activation=recurrent_activation, reset_after=bool(reset_after)))
