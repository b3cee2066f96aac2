"""The workloads in PyTorch, as a PyTorch user writes them (channels-first, logits, a plain loop), starting
from the same weights as shendu's (tf.keras layouts converted). ``step(workload, smoke)`` returns one step."""
from __future__ import annotations

import numpy as np

import spec


def _t(a):
    import torch
    return torch.from_numpy(np.ascontiguousarray(a))


def _load(module, arrays):
    """Copy arrays (already in PyTorch's layouts) into ``module``'s parameters, in order."""
    import torch
    params = list(module.parameters())
    assert len(params) == len(arrays), (len(params), len(arrays))
    with torch.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(_t(a).reshape(p.shape))


def _dense(W, b, rows_hwc=None, cols_hwc=None):
    """A Dense (in, out) as Linear (out, in); a Flatten before it (rows) or a Reshape after it (cols) reads
    height, width, channels in tf.keras but channels, height, width in PyTorch, so those axes are reordered."""
    if rows_hwc is not None:
        W = W.reshape(*rows_hwc, -1).transpose(2, 0, 1, 3).reshape(W.shape)
    if cols_hwc is not None:
        W = W.reshape(W.shape[0], *cols_hwc).transpose(0, 3, 1, 2).reshape(W.shape)
        b = b.reshape(cols_hwc).transpose(2, 0, 1).reshape(-1)
    return [W.T, b]


def _conv(K, b):    # (kh, kw, in, out) -> (out, in, kh, kw); a transposed conv's (kh, kw, out, in) -> (in, out, kh, kw)
    return [K.transpose(3, 2, 0, 1), b]


def _lstm(W, U, b):  # gate order i, f, c, o is the same in both; PyTorch has a second bias
    return [W.T, U.T, b, np.zeros_like(b)]


def _norm(gamma, beta, *moving):
    """BatchNormalization's γ, β (its moving statistics start at PyTorch's own defaults, 0 and 1, too)."""
    return [gamma, beta]


def _attention(Wq, bq, Wk, bk, Wv, bv, Wo, bo):
    """MultiHeadAttention's per-head kernels (d, heads, key_dim) as nn.MultiheadAttention's packed in_proj
    (3·d, d) and out_proj (d, d): PyTorch multiplies by the transposes."""
    d = Wq.shape[0]
    return [np.concatenate([W.reshape(d, -1).T for W in (Wq, Wk, Wv)]), np.concatenate([bq.ravel(), bk.ravel(),
            bv.ravel()]), Wo.reshape(-1, d).T, bo]


def _extra(workload, s, a):
    """(module, axis order of the input or None): the extra workloads' modules, loaded with the shared weights;
    image inputs are permuted to channels-first once, before the timing, as the other workloads' are."""
    import torch.nn.functional as F
    from torch import nn

    if workload == "bncnn":    # Keras's BatchNormalization: momentum 0.99, epsilon 1e-3
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.BatchNorm2d(32, 1e-3, 0.01), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64, 1e-3, 0.01), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(1600, 10))
        _load(model, _conv(*a[0:2]) + _norm(*a[2:6]) + _conv(*a[6:8]) + _norm(*a[8:12])
              + _dense(*a[12:14], rows_hwc=(5, 5, 64)))
        return model, (0, 3, 1, 2)
    if workload == "sepconv":
        model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.Conv2d(16, 32, 1), nn.ReLU(),
                              nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(32, 10))
        _load(model, [a[0].transpose(2, 3, 0, 1), a[1].transpose(3, 2, 0, 1), a[2], a[3].transpose(2, 3, 0, 1), a[4]]
              + _dense(*a[5:7]))
        return model, (0, 3, 1, 2)
    if workload == "transformer":
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.attention = nn.MultiheadAttention(128, 4, batch_first=True)
                self.norm1, self.ffn1, self.ffn2 = nn.LayerNorm(128, 1e-3), nn.Linear(128, 256), nn.Linear(256, 128)
                self.norm2, self.out = nn.LayerNorm(128, 1e-3), nn.Linear(128, 10)

            def forward(self, x):
                h = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
                h = self.norm2(h + self.ffn2(F.relu(self.ffn1(h))))
                return self.out(h.mean(1))
        model = Block()
        _load(model, _attention(*a[0:8]) + a[8:10] + _dense(*a[10:12]) + _dense(*a[12:14]) + a[14:16]
              + _dense(*a[16:18]))
        return model, None
    if workload == "textcnn":
        class TextCNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb, self.conv, self.out = nn.Embedding(10000, 64), nn.Conv1d(64, 128, 5), nn.Linear(128, 10)

            def forward(self, tokens):
                return self.out(F.relu(self.conv(self.emb(tokens).transpose(1, 2))).amax(2))
        model = TextCNN()
        _load(model, [a[0], a[1].transpose(2, 1, 0), a[2]] + _dense(*a[3:5]))
        return model, None
    if workload == "lstmseq":
        class Tagger(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb, self.lstm = nn.Embedding(5000, 64), nn.LSTM(64, 128, batch_first=True)
                self.dense, self.out = nn.Linear(128, 64), nn.Linear(64, 10)

            def forward(self, tokens):
                return self.out(F.relu(self.dense(self.lstm(self.emb(tokens))[0])).mean(1))
        model = Tagger()
        _load(model, [a[0]] + _lstm(*a[1:4]) + _dense(*a[4:6]) + _dense(*a[6:8]))
        return model, None
    raise ValueError(workload)


def step(workload: str, smoke: bool):
    import torch
    import torch.nn.functional as F
    from torch import nn

    s = spec.sizes(workload, smoke)
    x, y = spec.data(workload, smoke)
    w = spec.initial_weights(workload, smoke)
    if workload == "dcgan":
        G = nn.Sequential(nn.Linear(spec.LATENT, 7 * 7 * 128), nn.Unflatten(1, (128, 7, 7)),
                          nn.ConvTranspose2d(128, 64, 4, 2, padding=1), nn.LeakyReLU(0.2),
                          nn.ConvTranspose2d(64, 1, 4, 2, padding=1), nn.Tanh())
        D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, padding=1),
                          nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(7 * 7 * 128, 1))
        g, d = w["G"], w["D"]
        _load(G, _dense(*g[:2], cols_hwc=(7, 7, 128)) + _conv(*g[2:4]) + _conv(*g[4:6]))
        _load(D, _conv(*d[:2]) + _conv(*d[2:4]) + _dense(*d[4:6], rows_hwc=(7, 7, 128)))
        g_opt, d_opt = torch.optim.Adam(G.parameters(), 2e-4), torch.optim.Adam(D.parameters(), 2e-4)
        real, noise = _t(x.transpose(0, 3, 1, 2)), _t(y)
        b = s["batch"]
        labels = torch.cat([torch.ones(b, 1), torch.zeros(b, 1)])

        def gan_step():
            with torch.no_grad():
                fake = G(noise)
            d_opt.zero_grad()
            F.binary_cross_entropy_with_logits(D(torch.cat([fake, real])), labels).backward()
            d_opt.step()
            g_opt.zero_grad()
            F.binary_cross_entropy_with_logits(D(G(noise)), labels[b:]).backward()
            g_opt.step()
        return gan_step

    a = w["model"]
    if workload == "mlp":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        _load(model, _dense(*a[0:2]) + _dense(*a[2:4]) + _dense(*a[4:6]))
    elif workload in ("cnn", "predict"):
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
        _load(model, _conv(*a[0:2]) + _conv(*a[2:4]) + _dense(*a[4:6], rows_hwc=(5, 5, 64)) + _dense(*a[6:8]))
        x = x.transpose(0, 3, 1, 2)
    elif workload in ("lstm", "bilstm"):
        bi = workload == "bilstm"

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(10000, 64)
                self.lstm = nn.LSTM(64, 64, batch_first=True, bidirectional=bi)
                self.out = nn.Linear(128 if bi else 64, 10)

            def forward(self, tokens):
                _, (h, _) = self.lstm(self.emb(tokens))
                return self.out(torch.cat([h[0], h[1]], 1) if bi else h[0])

        model = Net()
        _load(model, [a[0]] + _lstm(*a[1:4]) + (_lstm(*a[4:7]) if bi else []) + _dense(*a[-2:]))
    elif workload == "bigconv":
        model = nn.Conv2d(s["channels"], 1, 7, padding=3)
        _load(model, _conv(*a))
        x, y = x.transpose(0, 3, 1, 2), y.transpose(0, 3, 1, 2)
    else:
        model, order = _extra(workload, s, a)
        if order is not None:
            x = x.transpose(order)
    tx, ty = _t(x), _t(y)
    if workload == "predict":
        model.eval()

        def predict():
            with torch.inference_mode():
                return model(tx).numpy()
        return predict

    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = F.mse_loss if workload == "bigconv" else F.cross_entropy

    def train_step():
        opt.zero_grad()
        loss = loss_fn(model(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()
    return train_step
