"""Conv2D with its bias and ReLU in one op: y = max(conv2d(x, K) + bias, 0) (or without the max).

A Conv2D layer with activation='relu' is the common case (the tutorial CNN, VGG), and as two ops it
writes the whole pre-activation, reads it back for the maximum, keeps both, and in the backward builds
a boolean mask and multiplies. Fused, and for stride 1 (the common case, the one this op arranges
itself; other strides and Conv2D's chunked and shift forms run Conv2D's code, then the maximum):
- the im2col rows of a few images (about BLOCK_BYTES) are built and multiplied at a time, and bias and
  ReLU applied to that block of outputs in one pass, all while the block is in cache;
- only the columns (for dK) and the output y are kept, and nothing at all under no_grad (predict);
- the backward runs block by block as well: dz = dy where y > 0 (y > 0 exactly where z > 0), then that
  block's share of dK and dbias, and dx of its images by col2im (windows never reach across images).
The element loops (bias + ReLU, the mask) are ``conv_loops``' compiled ones and col2im is
``conv_kernels.col2im_cropped`` (each pixel of the cropped image written once) when numba is there.
A first layer (its input wants no gradient, kh·kw·C ≤ conv_direct.MAX_TERMS) runs ``conv_direct``'s
loops instead, at any stride. ``Conv2DActPool`` is the same op with the max pool after it fused in
(what a Sequential runs for Conv2D + MaxPooling2D). A wide 3×3 layer at stride 1 runs ``conv_winograd``'s
F(2×2, 3×3) instead of im2col, pooled or not (its 2×2 output tiles are a 2×2 pool's windows). The composed
form, ``relu(conv2d(x, K, bias))`` (then ``max_pool2d``), is the tests' oracle.
"""
from __future__ import annotations

from shendu import autograd, backend
from shendu.ops import compiled, conv, conv_direct, conv_kernels, conv_loops, conv_winograd
from shendu.ops.conv import Conv2D, _col2im, _crop, _offsets, _pad, _tap, _windows, conv2d_inputs
from shendu.ops.pool import max_pool2d
from shendu.tensor import Tensor

ACTIVATIONS = ("linear", "relu")
BLOCK_BYTES = 1 << 20   # im2col rows per GEMM in the forward: about what a core's L2 cache holds


def _im2col_into(x, w, out):
    """Conv2D's im2col of x (N, H, W, C), written into out (N*oh*ow, kh*kw*C)."""
    n, c = x.shape[0], x.shape[-1]
    if c >= 4:
        backend.xp.copyto(out.reshape(n, *w.out, *w.k, c), _windows(x, w))
        return
    # few channels: copy one kernel offset at a time (runs of c values are too short to copy well)
    view = out.reshape(n, *w.out, w.k[0] * w.k[1], c)
    for i, (a, b) in enumerate(_offsets(w)):
        view[:, :, :, i] = _tap(x, w, a, b)


class Conv2DAct(Conv2D):
    """y[n,i,j,f] = act(Σ_{a,b,c} x[n, i*s+a*d, j*s+b*d, c] K[a,b,c,f] + bias[f]), act = relu or linear;
    dz = dy * (y > 0) for relu, then Conv2D's backward with dz: dK = colsᵀ dz, dx = col2im(dz Kᵀ), dbias = Σ dz"""
    keep = True         # whether backward will run (conv2d_act says): if not, the columns are not kept
    pool = (1, 1)       # no pool after (Conv2DActPool's is its own)
    direct = False      # whether the forward ran conv_direct's loops (a first layer: few input channels)
    x_grad = True       # whether backward will want dx (conv2d_act says): conv_direct's loops give none
    winograd = False    # whether the forward ran conv_winograd's F(2×2, 3×3) (a wide 3×3 layer)

    def forward(self, x, K, *b):
        w, xp = self.win, backend.xp
        xpad = _pad(x, w.pads)
        if not self.x_grad and conv_direct.applies(x, K, w, self.pool):
            out = conv_direct.forward(xpad, K, b[0] if b else None, self.activation == "relu", w, self.pool)
            if out is not None:
                self.direct = True
                if self.keep:
                    self.save(xpad, K, *out)
                return out[0]
        n, dtype = x.shape[0], xp.result_type(x, K)
        plan = conv._plan(x.shape, xpad.shape[1:3], K.shape, w, dtype.itemsize)   # (read here: tests patch it)
        if plan == ("cols", n) and conv_winograd.applies(x, K, w, self.pool):   # its tiles take less than cols
            return self._winograd(xpad, K, b)
        self.blocked = plan == ("cols", n) and w.s == (1, 1) and w.d == (1, 1)
        if not self.blocked and self.pool != (1, 1):    # conv2d_act_pool checks the plan before it applies this
            raise RuntimeError(f"Conv2DActPool needs the blocked im2col form, but the plan is {plan}.")
        if not self.blocked:                            # Conv2D's own forms: chunks, the shift form, strides
            y = super().forward(x, K, *b)               # a fresh array this op owns
            if self.activation == "relu":
                xp.maximum(y, 0, out=y)
                self.save(*self.saved, y)               # the output alone gives the ReLU's mask
            return y
        self.padded_shape, (self.mode, self.chunk) = xpad.shape, plan
        rows, f = w.out[0] * w.out[1], K.shape[-1]
        K2 = K.reshape(-1, f)
        y = self._outputs(n, f, dtype)
        # the im2col rows of a few images at a time, multiplied while they are still in cache; the columns
        # are kept whole for dK when a gradient will be asked for, else one block's buffer is reused. At two
        # or more threads, each thread runs this for its own share of the images (one-thread products)
        step = self._images_per_block(n, K, dtype)
        kept = xp.empty((n * rows, K2.shape[0]), dtype) if self.keep else None
        bias, relu = (b[0] if b else None), self.activation == "relu"

        def images(i0, i1):
            buffer = None if self.keep else xp.empty((min(step, i1 - i0) * rows, K2.shape[0]), dtype)
            z = self._scratch(min(step, i1 - i0) * rows, f, dtype)
            for i in range(i0, i1, step):
                m = min(step, i1 - i)
                r = slice(i * rows, (i + m) * rows)
                block, out = (kept[r] if self.keep else buffer[:m * rows]), (y[r] if z is None else z[:m * rows])
                _im2col_into(xpad[i:i + m], w, block)
                xp.matmul(block, K2, out=out)
                self._epilogue(out, bias, relu, i, m)
        compiled.run_images(images, n, n * rows * (K2.shape[0] + f))
        return self._finish(kept, K, y)

    def _winograd(self, xpad, K, b):
        self.winograd = True
        y, arg, V, U = conv_winograd.forward(xpad, K, b[0] if b else None, self.activation == "relu", self.keep,
                                             pooled=self.pool != (1, 1))
        if self.keep:
            self.padded_shape = xpad.shape
            self.save(y, arg, V, U)
        return y

    # the hooks Conv2DActPool changes: where a block's product goes, what is made of it, what is kept
    def _outputs(self, n, f, dtype):
        return backend.xp.empty((n * self.win.out[0] * self.win.out[1], f), dtype)

    def _scratch(self, rows, f, dtype):
        return None                                     # each block's product is written into y itself

    def _epilogue(self, z, bias, relu, i, m):
        conv_loops.bias_relu(z, bias, relu)

    def _finish(self, cols, K, y):
        y = y.reshape(-1, *self.win.out, K.shape[-1])
        if self.keep:
            self.save(cols, K, y) if self.activation == "relu" else self.save(cols, K)
        return y

    def _block_grad(self, gy, r, i, m):
        """dz of the images i .. i+m (rows r of the block products): dy where y > 0 for relu, else dy."""
        f = gy.shape[-1]
        if self.activation != "relu":
            return gy.reshape(-1, f)[r]
        return conv_loops.relu_mask(gy.reshape(-1, f)[r], self.saved[2].reshape(-1, f)[r])

    def _images_per_block(self, n, K, dtype):
        """Images whose im2col rows and outputs fill about BLOCK_BYTES."""
        per_image = self.win.out[0] * self.win.out[1] * (K.shape[0] * K.shape[1] * K.shape[2] + K.shape[3])
        return max(1, min(n, BLOCK_BYTES // (per_image * dtype.itemsize)))

    def backward(self, gy):
        saved = self.saved
        relu = self.activation == "relu"
        if self.winograd:
            need_b = len(self.needs) == 3 and self.needs[2]
            gx, gK, gb = conv_winograd.backward(gy, *saved, relu, self.padded_shape, self.needs[0], self.needs[1],
                                                need_b)
            gx = None if gx is None else _crop(gx, self.win.pads)
            return (gx, gK, gb) if len(self.needs) == 3 else (gx, gK)
        if self.direct:
            need_b = len(self.needs) == 3 and self.needs[2]
            gK, gb = conv_direct.backward(*saved[:2], gy, *saved[2:], relu, self.win, self.pool, self.needs[1], need_b)
            return (None, gK, gb) if len(self.needs) == 3 else (None, gK)
        if not self.blocked:
            if relu:
                gy, saved = conv_loops.relu_mask(gy, saved[-1]), saved[:-1]
            self.saved = saved                          # Conv2D's backward reads (columns or x_pad, K)
            return super().backward(gy)
        # block by block, as the forward: dz, its share of dK and dbias, and dx of those images (windows
        # never reach across images) while dz and dz Kᵀ are in cache
        xp, w = backend.xp, self.win
        cols, K = saved[:2]
        n, f, rows = gy.shape[0], K.shape[-1], w.out[0] * w.out[1]
        K2 = K.reshape(-1, f)
        want_b = len(self.needs) == 3 and self.needs[2]
        out_hw = tuple(m - lo - hi for m, (lo, hi) in zip(self.padded_shape[1:3], w.pads))
        gx = xp.empty((n, *out_hw, self.padded_shape[-1]), gy.dtype) if self.needs[0] else None
        step = self._images_per_block(n, K, gy.dtype)
        sums = {}       # first image of a part -> that part's (dK, dbias): added in image order after

        def images(i0, i1):
            gK = xp.zeros(K2.shape, gy.dtype) if self.needs[1] else None
            gb = xp.zeros(f, gy.dtype) if want_b else None
            for i in range(i0, i1, step):
                m = min(step, i1 - i)
                r = slice(i * rows, (i + m) * rows)
                gz = self._block_grad(gy, r, i, m)
                if gK is not None:
                    gK += cols[r].T @ gz
                if gb is not None:                      # Σ dz over pixels: a GEMV beats .sum(axis=0) here
                    gb += xp.ones(m * rows, gz.dtype) @ gz
                if gx is not None:                      # each pixel of the cropped image written once
                    gcols = (gz @ K2.T).reshape(m, *w.out, *w.k, K.shape[2])
                    if conv_kernels.col2im_cropped(gcols, w, out_hw, out=gx[i:i + m]) is None:
                        gx[i:i + m] = _crop(_col2im(gcols, w, (m, *self.padded_shape[1:])), w.pads)
            sums[i0] = gK, gb
        compiled.run_images(images, n, n * rows * (K2.shape[0] + f))
        parts = [sums[i] for i in sorted(sums)]
        gK, gb = parts[0]
        for pK, pb in parts[1:]:
            if gK is not None:
                gK += pK
            if gb is not None:
                gb += pb
        gK = None if gK is None else gK.reshape(K.shape)
        return (gx, gK, gb) if len(self.needs) == 3 else (gx, gK)


class Conv2DActPool(Conv2DAct):
    """p[n,i,j,f] = max_{a,b} y[n, i·ph+a, j·pw+b, f], y = act(conv2d(x, K) + bias);   dz = dp at each window's
    argmax where p > 0 (relu), else 0, then Conv2DAct's dK = colsᵀ dz, dx = col2im(dz Kᵀ), dbias = Σ dz

    Conv2DAct followed by a max pool whose windows tile y (stride = pool size, 'valid'), in one op. Each block's
    product is pooled while in cache, so y is never written whole: only p and each window's argmax are kept.
    The max of ReLU'd values is the ReLU of the max, so the ReLU runs once per window. Runs on Conv2DAct's
    blocked form (conv2d_act_pool checks), or, for a first layer, conv_direct's loops, or for wide 3×3 layers and
    2×2 pools, conv_winograd's F(2×2, 3×3), whose 2×2 output tiles are the pool's windows."""
    pool = (2, 2)

    def _outputs(self, n, f, dtype):
        shape = (n, *(o // p for o, p in zip(self.win.out, self.pool)), f)
        self.pooled, self.arg = backend.xp.empty(shape, dtype), backend.xp.empty(shape, backend.xp.uint8)
        return self.pooled

    def _scratch(self, rows, f, dtype):
        return backend.xp.empty((rows, f), dtype)       # one block's product, reused block after block

    def _epilogue(self, z, bias, relu, i, m):
        conv_loops.bias_act_pool(z.reshape(m, *self.win.out, -1), bias, relu, self.pool, self.pooled[i:i + m],
                                 self.arg[i:i + m])

    def _finish(self, cols, K, y):
        if self.keep:
            self.save(cols, K, y, self.arg)
        self.pooled = self.arg = None
        return y

    def _block_grad(self, gy, r, i, m):
        gz = backend.xp.empty((m, *self.win.out, gy.shape[-1]), gy.dtype)
        conv_loops.pool_act_grad(gy[i:i + m], self.saved[3][i:i + m], self.saved[2][i:i + m],
                                 self.activation == "relu", self.pool, gz)
        return gz.reshape(m * self.win.out[0] * self.win.out[1], -1)


def conv2d_act(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1,
               activation: str = "relu") -> Tensor:
    """act(conv2d(x, kernel) + bias) as one op, act 'relu' or 'linear'; arguments as ``conv2d``.

    Args:
        x: (batch, height, width, in_channels).
        kernel: (kernel_height, kernel_width, in_channels, filters).
        bias: (filters,) or None.
        activation: 'relu' (max(z, 0)) or 'linear' (z).
    Returns (batch, out_height, out_width, filters).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"conv2d_act: activation must be one of {ACTIVATIONS}, got {activation!r}; apply "
                         f"other activations to conv2d's output.")
    x, kernel, bias, win = conv2d_inputs(x, kernel, bias, strides, padding, dilation_rate)
    args = (x, kernel) if bias is None else (x, kernel, bias)
    keep = autograd.is_grad_enabled() and any(t.requires_grad for t in args)   # will backward run?
    return Conv2DAct.apply(*args, win=win, activation=activation, keep=keep, x_grad=keep and x.requires_grad)


def conv2d_act_pool(x, kernel, bias=None, padding: str = "valid", activation: str = "relu",
                    pool_size=(2, 2)) -> Tensor:
    """max_pool2d(conv2d_act(x, kernel, bias, 1, padding, 1, activation), pool_size) as one op (stride-1 Conv2D,
    a max pool with strides = pool_size and 'valid' padding: the tutorial CNN's Conv2D + MaxPooling2D).
    Where Conv2DAct's blocked form does not run (the batch chunked, the shift form), it is those two ops."""
    pool_size = (pool_size, pool_size) if isinstance(pool_size, int) else tuple(pool_size)
    if activation not in ACTIVATIONS:
        raise ValueError(f"conv2d_act_pool: activation must be one of {ACTIVATIONS}, got {activation!r}.")
    x, kernel, bias, win = conv2d_inputs(x, kernel, bias, 1, padding, 1)
    used = tuple(o // p * p for o, p in zip(win.out, pool_size))     # the rows and columns the pool reads
    winograd = conv_winograd.applies(x.data, kernel.data, win, pool_size)   # its tiles skip those rows itself
    if win.pads == ((0, 0), (0, 0)) and used != win.out and all(used) and not winograd:
        # the pool drops the last rows or columns of the output: leave out the input that only they read
        # (x[:, :used + k - 1]), so no product computes them (the tutorial CNN's second layer: 11x11 -> 10x10,
        # 17 % of its work); the slice's backward gives the left-out input its zero gradient
        x = x[:, :used[0] + kernel.shape[0] - 1, :used[1] + kernel.shape[1] - 1]
        x, kernel, bias, win = conv2d_inputs(x, kernel, bias, 1, padding, 1)
    xp = backend.xp
    padded_hw = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[1:3], win.pads))
    plan = conv._plan(x.shape, padded_hw, kernel.shape, win, xp.result_type(x.data, kernel.data).itemsize)
    if plan != ("cols", x.shape[0]) or any(o < p for o, p in zip(win.out, pool_size)):
        return max_pool2d(conv2d_act(x, kernel, bias, 1, padding, 1, activation), pool_size)
    args = (x, kernel) if bias is None else (x, kernel, bias)
    keep = autograd.is_grad_enabled() and any(t.requires_grad for t in args)
    return Conv2DActPool.apply(*args, win=win, activation=activation, keep=keep, x_grad=keep and x.requires_grad,
                               pool=pool_size)
