"""Compiled LSTM and GRU time loops (numba): the whole forward recurrence and the whole BPTT backward, one call each.

The NumPy loops in ``shendu/ops/recurrent.py`` make about ten NumPy calls per time step; at the usual sizes
(batch 64, 64 units) each call costs more Python time than arithmetic. Here one compiled call walks all T
steps: per step ONE matrix product through BLAS (numba's ``np.dot`` with an output array, which calls
sgemm/dgemm via SciPy), and the gate arithmetic fused into loops that write straight into the saved arrays.

The recurrence needs tanh of 4·units values per row per step. A libm tanh call per value is slower than
NumPy's vectorised tanh, so ``_tanh`` below is written from arithmetic LLVM can vectorise:

    tanh(x) = -expm1(-2|x|) / (expm1(-2|x|) + 2) · sign(x),   expm1(y) = 2^k (e^r - 1) + (2^k - 1)

with y = k ln 2 + r, |r| ≤ ln 2 / 2, e^r - 1 a Taylor polynomial (degree 13 in float64, 8 in float32:
truncation below the type's rounding) and 2^k built from its exponent bits. Writing e^y - 1 rather than
e^y keeps tanh's relative precision near 0. |x| is clamped where tanh(x) rounds to ±1 in the type.

Layouts as in ``recurrent.py``: time-major (T, batch, ·), gate columns reordered to o, i, f, c̃, and the
σ columns of the projected inputs and of U pre-scaled by 1/2, so σ(z) = (1 + tanh(z/2)) / 2 is one tanh.

This module imports numba at its top; ``recurrent_compiled.py`` imports it only on first use (numba is optional).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  numba's np.dot calls BLAS through it: loaded now, so thread limits see it
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload


@intrinsic
def _pow2_rounded_64(typingctx, kb):
    """2.0 ** n from kb = n + 1.5·2^52 (float64), which holds the integer n in its low mantissa bits:
    shifting those bits to the exponent field (and adding 1.0's bits) builds 2^n with no conversion."""
    def codegen(context, builder, signature, args):
        bits = builder.shl(builder.bitcast(args[0], ir.IntType(64)), ir.Constant(ir.IntType(64), 52))
        bits = builder.add(bits, ir.Constant(ir.IntType(64), 0x3FF0000000000000))
        return builder.bitcast(bits, ir.DoubleType())
    return types.float64(types.float64), codegen


@intrinsic
def _pow2_rounded_32(typingctx, kb):
    """2.0 ** n from kb = n + 1.5·2^23 (float32), as ``_pow2_rounded_64``."""
    def codegen(context, builder, signature, args):
        bits = builder.shl(builder.bitcast(args[0], ir.IntType(32)), ir.Constant(ir.IntType(32), 23))
        bits = builder.add(bits, ir.Constant(ir.IntType(32), 0x3F800000))
        return builder.bitcast(bits, ir.FloatType())
    return types.float32(types.float32), codegen


_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10     # ln 2 = hi + lo, hi has 32 bits
# 1/n! for n = 13 .. 2, the Taylor coefficients of e^r - 1 = r (1 + r/2! + r²/3! + ...)
_C64 = [1.0 / math.factorial(n) for n in range(13, 1, -1)]
_C32 = [np.float32(1.0 / math.factorial(n)) for n in range(8, 1, -1)]
_F32 = np.float32
# Compile options of every kernel: division by zero gives inf as in NumPy (no Python ZeroDivisionError check,
# which would stop LLVM vectorising the loops), and a * b + c may become one fused multiply-add.
_FAST = {"contract"}


def _tanh(x):
    """tanh(x) of a float32 or float64 scalar, vectorisable (see the module docstring)."""
    return math.tanh(x)


@overload(_tanh, inline="always")
def _tanh_overload(x):
    if x == types.float64:
        c13, c12, c11, c10, c9, c8, c7, c6, c5, c4, c3, c2 = _C64

        def tanh64(x):
            ax = min(abs(x), 19.1)                     # tanh(19.1) rounds to 1 in float64
            y = -2.0 * ax
            kb = y * _LOG2E + 6755399441055744.0       # adding 1.5·2^52 rounds y / ln 2 to the integer k ...
            kf = kb - 6755399441055744.0               # ... (no float-to-int conversion, which vectorises badly)
            r = (y - kf * _LN2_HI) - kf * _LN2_LO
            p = c13 * r + c12
            p = p * r + c11
            p = p * r + c10
            p = p * r + c9
            p = p * r + c8
            p = p * r + c7
            p = p * r + c6
            p = p * r + c5
            p = p * r + c4
            p = p * r + c3
            p = p * r + c2
            p = p * r + 1.0
            s = _pow2_rounded_64(kb)
            em = s * (p * r) + (s - 1.0)               # e^y - 1
            t = -em / (em + 2.0)
            return math.copysign(t, x)
        return tanh64
    if x == types.float32:
        c8, c7, c6, c5, c4, c3, c2 = _C32
        clamp, m2, log2e, magic, one, two = _F32(9.1), _F32(-2), _F32(_LOG2E), _F32(12582912.0), _F32(1), _F32(2)
        ln2_hi, ln2_lo = _F32(0.693359375), _F32(-2.12194440e-4)           # ln 2 = hi + lo, hi has 9 bits

        def tanh32(x):
            ax = min(abs(x), clamp)                    # tanh(9.1) rounds to 1 in float32
            y = m2 * ax
            kb = y * log2e + magic                     # 1.5·2^23 rounds y / ln 2 to the integer k
            kf = kb - magic
            r = (y - kf * ln2_hi) - kf * ln2_lo
            p = c8 * r + c7
            p = p * r + c6
            p = p * r + c5
            p = p * r + c4
            p = p * r + c3
            p = p * r + c2
            p = p * r + one
            s = _pow2_rounded_32(kb)
            em = s * (p * r) + (s - one)
            t = -em / (em + two)
            return math.copysign(t, x)
        return tanh32
    return None


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def tanh_array(x, out):
    """out = tanh(x) elementwise with the compiled tanh (for tests against np.tanh)."""
    xf, of = x.ravel(), out.ravel()
    for j in range(xf.size):
        of[j] = _tanh(xf[j])
    return out


# Rows per BLAS call in the time loops. OpenBLAS multiplies small products (up to about 96³ multiply-adds)
# without packing its operands first: (32, 64) @ (64, 256) twice took 13 µs where (64, 64) @ (64, 256) once
# took 19 µs (one SkylakeX core, float32), and the backward's (·, 256) @ (256, 64) 16 µs against 19 µs.
_GEMM_ROWS = 32


@numba.njit(cache=True, nogil=True)
def _dot_rows(a, b, out, b0, b1):
    """out[b0:b1] = a[b0:b1] @ b, in BLAS calls of at most _GEMM_ROWS rows."""
    for r in range(b0, b1, _GEMM_ROWS):
        e = min(r + _GEMM_ROWS, b1)
        np.dot(a[r:e], b, out[r:e])


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def lstm_forward(XW, b, U, H, C, G, A, M, rm, b0, b1):
    """The LSTM's forward recurrence over all T steps for the batch rows b0 ≤ n < b1, in place.

    XW (T, B, 4u): x_t W, columns o, i, f, c̃, σ columns pre-scaled by 1/2; b (4u,) and U (u, 4u) likewise.
    H, C (T + 1, B, u): H[0], C[0] hold h0, c0; filled with h_t, c_t.   G (T, B, 4u): filled with the gate
    activations o, i, f, c̃.   A (T, B, u): filled with tanh(c_t).   M (T, B) bool, False at masked steps
    (state carried), or an empty array for no mask.   rm (B, u): recurrent dropout mask on h_{t-1}, or empty.
    Rows are independent, so disjoint row ranges may run in parallel threads (the GIL is released).
    """
    T, B, k = XW.shape
    u = k // 4
    half = XW.dtype.type(0.5)
    HP = np.empty((B, u), XW.dtype)
    Z = np.empty((B, k), XW.dtype)       # h_{t-1} U: a buffer that stays in cache (G[t] is new memory each step)
    for t in range(T):
        if rm.size:
            for n in range(b0, b1):
                for j in range(u):
                    HP[n, j] = H[t, n, j] * rm[n, j]
            _dot_rows(HP, U, Z, b0, b1)
        else:
            _dot_rows(H[t], U, Z, b0, b1)                           # z = h_{t-1} U (BLAS)
        for n in range(b0, b1):
            gn, xn, zn = G[t, n], XW[t, n], Z[n]
            for j in range(k):
                gn[j] = _tanh(zn[j] + xn[j] + b[j])                    # c̃ = tanh(z), and tanh(z/2) ...
            for j in range(3 * u):
                gn[j] = half * gn[j] + half                            # ... made o, i, f = σ(z)
            c, c_prev, a, h = C[t + 1, n], C[t, n], A[t, n], H[t + 1, n]
            for j in range(u):
                c[j] = gn[2 * u + j] * c_prev[j] + gn[u + j] * gn[3 * u + j]    # c_t = f ⊙ c_{t-1} + i ⊙ c̃
            for j in range(u):
                a[j] = _tanh(c[j])
            for j in range(u):
                h[j] = gn[j] * a[j]                                    # h_t = o ⊙ tanh(c_t)
            if M.size and not M[t, n]:                                 # a masked step carries h and c
                for j in range(u):
                    c[j] = c_prev[j]
                    h[j] = H[t, n, j]


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def lstm_backward(G, C, A, UT, GY, M, rm, dh, dc, dZ, db, b0, b1):
    """Backpropagation through all T steps of ``lstm_forward``, in reverse, for the rows b0 ≤ n < b1, in place.

    G, C, A: as saved by the forward.  UT (4u, u): Uᵀ (unscaled), rows o, i, f, c̃.  GY (T, B, u): dL/dy_t of
    every step's output, or empty.  M, rm: as in the forward.  dh, dc (B, u): dL/dh_T, dL/dc_T in, dL/dh_0,
    dL/dc_0 out.  dZ (T, B, 4u): filled with dL/dz_t, the gradient of every step's pre-activations (o, i, f, c̃).
    db (4u,): dL/dz summed over these rows and all steps is added to it (the bias gradient).
    Per step: dc += dh ⊙ o ⊙ tanh'(c_t);  dz_o = dh ⊙ tanh(c_t) ⊙ σ'(o);  dz_i = dc ⊙ c̃ ⊙ σ'(i);
    dz_f = dc ⊙ c_{t-1} ⊙ σ'(f);  dz_c = dc ⊙ i ⊙ tanh'(c̃);  dc_{t-1} = dc ⊙ f;  dh_{t-1} = dz Uᵀ.
    """
    T, B, k = G.shape
    u = k // 4
    one = G.dtype.type(1)
    zero = G.dtype.type(0)
    keep = np.empty((B, u), G.dtype)                 # dh of the rows masked at this step: carried unchanged
    for t in range(T - 1, -1, -1):
        if GY.size:
            for n in range(b0, b1):
                for j in range(u):
                    dh[n, j] += GY[t, n, j]
        for n in range(b0, b1):
            zn, dhn, dcn = dZ[t, n], dh[n], dc[n]
            if M.size and not M[t, n]:
                for j in range(k):
                    zn[j] = zero
                for j in range(u):
                    keep[n, j] = dhn[j]
                continue
            gn, a, c_prev = G[t, n], A[t, n], C[t, n]
            # three short loops rather than one: each touches few enough arrays for LLVM to vectorise it
            for j in range(u):
                o, aj, d = gn[j], a[j], dhn[j]
                dcn[j] += d * o * (one - aj * aj)                      # dc += dh ⊙ o ⊙ tanh'(c_t)
                zn[j] = d * aj * o * (one - o)
            for j in range(u):
                i, f, cc, dcv = gn[u + j], gn[2 * u + j], gn[3 * u + j], dcn[j]
                zn[u + j] = dcv * cc * i * (one - i)
                zn[2 * u + j] = dcv * c_prev[j] * f * (one - f)
                zn[3 * u + j] = dcv * i * (one - cc * cc)
            for j in range(u):
                dcn[j] *= gn[2 * u + j]                                # dc_{t-1} = dc ⊙ f
            for j in range(k):
                db[j] += zn[j]
        _dot_rows(dZ[t], UT, dh, b0, b1)                               # dh_{t-1} = dz Uᵀ (BLAS)
        if rm.size:
            for n in range(b0, b1):
                for j in range(u):
                    dh[n, j] *= rm[n, j]
        if M.size:
            for n in range(b0, b1):
                if not M[t, n]:
                    for j in range(u):
                        dh[n, j] = keep[n, j]


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def gru_forward(XW, U, b_rec, H, ZR, HH, P, M, rm, b0, b1):
    """The GRU's forward recurrence (reset_after: h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + b_rh))) over all T
    steps for the batch rows b0 ≤ n < b1, in place.

    XW (T, B, 3u): x_t W + b_in, columns z, r, h̃.  U (u, 3u), b_rec (3u,): the recurrent kernel and bias.
    H (T + 1, B, u): H[0] holds h0; filled with h_t.  ZR (T, B, 2u): filled with z, r.  HH (T, B, u): filled
    with h̃.  P (T, B, u): filled with h_{t-1} U_h + b_rh.  M, rm: as in ``lstm_forward``.
    """
    T, B, k = XW.shape
    u = k // 3
    half = XW.dtype.type(0.5)
    HP = np.empty((B, u), XW.dtype)
    R = np.empty((B, k), XW.dtype)       # h_{t-1} U, in a buffer that stays in cache
    for t in range(T):
        if rm.size:
            for n in range(b0, b1):
                for j in range(u):
                    HP[n, j] = H[t, n, j] * rm[n, j]
            _dot_rows(HP, U, R, b0, b1)
        else:
            _dot_rows(H[t], U, R, b0, b1)                              # h_{t-1} U for z, r and h̃ (BLAS)
        for n in range(b0, b1):
            xn, rn, zr, p, hh = XW[t, n], R[n], ZR[t, n], P[t, n], HH[t, n]
            for j in range(2 * u):
                zr[j] = half * _tanh(half * (xn[j] + rn[j] + b_rec[j])) + half          # z, r = σ(...)
            for j in range(u):
                p[j] = rn[2 * u + j] + b_rec[2 * u + j]
            for j in range(u):
                hh[j] = _tanh(xn[2 * u + j] + zr[u + j] * p[j])                   # h̃
            h, h_prev = H[t + 1, n], H[t, n]
            if M.size and not M[t, n]:                                 # a masked step carries h
                for j in range(u):
                    h[j] = h_prev[j]
            else:
                for j in range(u):
                    h[j] = hh[j] + zr[j] * (h_prev[j] - hh[j])         # h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def gru_backward(ZR, HH, P, H, UT, GY, M, rm, dh, dXW, dR, db_in, db_rec, b0, b1):
    """Backpropagation through all T steps of ``gru_forward``, in reverse, for the rows b0 ≤ n < b1, in place.

    UT (3u, u): Uᵀ.  GY, M, rm: as in ``lstm_backward``.  dh (B, u): dL/dh_T in, dL/dh_0 out.  dXW (T, B, 3u):
    filled with the gradient of x_t W + b_in;  dR (T, B, 3u): of h_{t-1} U + b_rec.  db_in, db_rec (3u,): their
    sums over these rows and all steps are added.
    Per step: dz = dh ⊙ (h_{t-1} - h̃) ⊙ σ'(z);  dh̃ = dh ⊙ (1 - z) ⊙ tanh'(h̃);  dr = dh̃ ⊙ p ⊙ σ'(r);
    dR = [dz, dr, dh̃ ⊙ r];  dh_{t-1} = dR Uᵀ + dh ⊙ z.
    """
    T, B, k = ZR.shape[0], ZR.shape[1], 3 * HH.shape[2]
    u = HH.shape[2]
    one = HH.dtype.type(1)
    zero = HH.dtype.type(0)
    direct = np.empty((B, u), HH.dtype)          # the part of dL/dh_{t-1} that bypasses U: dh ⊙ z (or dh, masked)
    for t in range(T - 1, -1, -1):
        if GY.size:
            for n in range(b0, b1):
                for j in range(u):
                    dh[n, j] += GY[t, n, j]
        for n in range(b0, b1):
            dx, dr_, dn, dd = dXW[t, n], dR[t, n], dh[n], direct[n]
            if M.size and not M[t, n]:
                for j in range(k):
                    dx[j] = zero
                    dr_[j] = zero
                for j in range(u):
                    dd[j] = dn[j]
                continue
            zr, hh, p, h_prev = ZR[t, n], HH[t, n], P[t, n], H[t, n]
            # short loops, each touching few enough arrays for LLVM to vectorise it
            for j in range(u):
                z, c, d = zr[j], hh[j], dn[j]
                dx[j] = d * (h_prev[j] - c) * z * (one - z)                        # dz
                dx[2 * u + j] = d * (one - z) * (one - c * c)                      # dh̃
            for j in range(u):
                z, r, c, d = zr[j], zr[u + j], hh[j], dn[j]
                dx[u + j] = d * (one - z) * (one - c * c) * p[j] * r * (one - r)  # dr
            for j in range(2 * u):
                dr_[j] = dx[j]
            for j in range(u):
                dr_[2 * u + j] = dx[2 * u + j] * zr[u + j]                         # dh̃ ⊙ r
            for j in range(u):
                dd[j] = dn[j] * zr[j]                                             # dh ⊙ z
            for j in range(k):
                db_in[j] += dx[j]
                db_rec[j] += dr_[j]
        _dot_rows(dR[t], UT, dh, b0, b1)                               # dR Uᵀ (BLAS)
        for n in range(b0, b1):
            dn, dd = dh[n], direct[n]
            if rm.size:
                for j in range(u):
                    dn[j] = dn[j] * rm[n, j] + dd[j]
            else:
                for j in range(u):
                    dn[j] += dd[j]
