"""LSTM, GRU and RNN, unrolled over the (bound, static) sequence length."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, dtype_of, static_shape, text

_DEFAULTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _activation(name: str, alpha: float | None, beta: float | None, dtype: str) -> Callable:
    from tvm import relax

    op = relax.op
    name = name.lower()
    if name == "sigmoid":
        return op.sigmoid
    if name == "tanh":
        return op.tanh
    if name == "relu":
        return op.nn.relu
    if name == "leakyrelu":
        return lambda x: op.nn.leakyrelu(x, 0.01 if alpha is None else alpha)
    if name == "thresholdedrelu":
        a = 1.0 if alpha is None else alpha
        return lambda x: op.where(op.greater(x, const(a, dtype)), x, const(0, dtype))
    if name == "affine":
        return lambda x: op.add(op.multiply(x, const(alpha, dtype)), const(beta or 0.0, dtype))
    if name == "scaledtanh":
        return lambda x: op.multiply(
            op.tanh(op.multiply(x, const(beta, dtype))), const(alpha, dtype)
        )
    if name == "hardsigmoid":
        a, b = (0.2 if alpha is None else alpha), (0.5 if beta is None else beta)
        return lambda x: op.clip(op.add(op.multiply(x, const(a, dtype)), const(b, dtype)), 0, 1)
    if name == "elu":
        a = 1.0 if alpha is None else alpha
        return lambda x: op.where(
            op.greater_equal(x, const(0, dtype)),
            x,
            op.multiply(op.subtract(op.exp(x), const(1, dtype)), const(a, dtype)),
        )
    if name == "softsign":
        return lambda x: op.divide(x, op.add(op.abs(x), const(1, dtype)))
    if name == "softplus":
        return lambda x: op.log(op.add(op.exp(x), const(1, dtype)))
    raise UnsupportedOperatorError(f"recurrent activation '{name}' is not supported")


def _activations(kind: str, attr: dict, num_dirs: int, dtype: str) -> list[list[Callable]]:
    names = [text(a) for a in attr.get("activations", ())] or _DEFAULTS[kind] * num_dirs
    if len(names) == len(_DEFAULTS[kind]) and num_dirs == 2:
        names = names * 2
    alphas = list(attr.get("activation_alpha", ()))
    betas = list(attr.get("activation_beta", ()))
    funcs = []
    for i, name in enumerate(names):
        alpha = alphas[i] if i < len(alphas) else None
        beta = betas[i] if i < len(betas) else None
        funcs.append(_activation(name, alpha, beta, dtype))
    per = len(_DEFAULTS[kind])
    return [funcs[d * per : (d + 1) * per] for d in range(num_dirs)]


def _slice(x, axis: int, begin: int, end: int):
    from tvm import relax

    return relax.op.strided_slice(x, axes=[axis], begin=[begin], end=[end])


def _take(x, axis: int, index: int):
    from tvm import relax

    return relax.op.squeeze(_slice(x, axis, index, index + 1), [axis])


def _recurrent(kind: str, bb, inputs, attr):
    from tvm import relax

    op = relax.op
    x, w, r = inputs[0], inputs[1], inputs[2]
    get = lambda i: inputs[i] if len(inputs) > i else None  # noqa: E731
    b, seq_lens, init_h = get(3), get(4), get(5)
    init_c = get(6) if kind == "LSTM" else None
    peep = get(7) if kind == "LSTM" else None
    dtype = dtype_of(x)
    layout = int(attr.get("layout", 0))
    if layout == 1:
        x = op.permute_dims(x, [1, 0, 2])
        init_h = op.permute_dims(init_h, [1, 0, 2]) if init_h is not None else None
        init_c = op.permute_dims(init_c, [1, 0, 2]) if init_c is not None else None
    x = bb.normalize(x)
    seq, batch, _ = static_shape(x)
    num_dirs, gh, _ = static_shape(w)
    hidden = int(attr.get("hidden_size", gh // _GATES[kind]))
    direction = text(attr.get("direction", b"forward"))
    clip = attr.get("clip")
    acts = _activations(kind, attr, num_dirs, dtype)
    linear_before_reset = int(attr.get("linear_before_reset", 0))
    input_forget = int(attr.get("input_forget", 0))
    gates = _GATES[kind]

    mask_at = None
    if seq_lens is not None:
        lens = op.astype(seq_lens, "int64")

        def mask_at(t: int):
            keep = op.less(const(t, "int64"), lens)  # [batch]
            return op.expand_dims(keep, [1])

    ys, hs, cs = [], [], []
    for d in range(num_dirs):
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        w_d = op.permute_dims(_take(w, 0, d), [1, 0])  # [in, G*h]
        r_d = bb.normalize(op.permute_dims(_take(r, 0, d), [1, 0]))  # [h, G*h]
        xw = op.matmul(x, w_d)  # [seq, batch, G*h]
        rb_d = None
        if b is not None:
            b_d = _take(b, 0, d)
            wb = _slice(b_d, 0, 0, gates * hidden)
            rb_d = bb.normalize(_slice(b_d, 0, gates * hidden, 2 * gates * hidden))
            xw = op.add(xw, wb)
        xw = bb.normalize(xw)
        h = _take(init_h, 0, d) if init_h is not None else op.zeros((batch, hidden), dtype)
        h = bb.normalize(h)
        c = None
        if kind == "LSTM":
            c = _take(init_c, 0, d) if init_c is not None else op.zeros((batch, hidden), dtype)
            c = bb.normalize(c)
        p = _take(peep, 0, d) if peep is not None else None
        f = acts[d]
        steps = range(seq - 1, -1, -1) if reverse else range(seq)
        outs: dict[int, object] = {}
        for t in steps:
            xt = _take(xw, 0, t)
            g = lambda k, src: _slice(src, 1, k * hidden, (k + 1) * hidden)  # noqa: E731
            if clip is not None:
                clipper = lambda v: op.clip(v, -float(clip), float(clip))  # noqa: E731
            else:
                clipper = lambda v: v  # noqa: E731
            hr = op.matmul(h, r_d)
            if rb_d is not None and kind != "GRU":
                hr = op.add(hr, rb_d)
            hr = bb.normalize(hr)
            if kind == "RNN":
                h_new = f[0](clipper(op.add(xt, hr)))
                c_new = None
            elif kind == "LSTM":
                pre = bb.normalize(op.add(xt, hr))
                i_pre, o_pre, f_pre, c_pre = (g(k, pre) for k in range(4))
                if p is not None:
                    i_pre = op.add(i_pre, op.multiply(_slice(p, 0, 0, hidden), c))
                    f_pre = op.add(f_pre, op.multiply(_slice(p, 0, 2 * hidden, 3 * hidden), c))
                i_t = bb.normalize(f[0](clipper(i_pre)))
                f_t = op.subtract(const(1, dtype), i_t) if input_forget else f[0](clipper(f_pre))
                c_t = f[1](clipper(c_pre))
                c_new = bb.normalize(op.add(op.multiply(f_t, c), op.multiply(i_t, c_t)))
                if p is not None:
                    o_pre = op.add(o_pre, op.multiply(_slice(p, 0, hidden, 2 * hidden), c_new))
                o_t = f[0](clipper(o_pre))
                h_new = op.multiply(o_t, f[2](c_new))
            else:  # GRU
                rb = rb_d if rb_d is not None else None
                rz = g(0, hr)
                rr = g(1, hr)
                if rb is not None:
                    rz = op.add(rz, g(0, rb_as_row(rb)))
                    rr = op.add(rr, g(1, rb_as_row(rb)))
                z_t = bb.normalize(f[0](clipper(op.add(g(0, xt), rz))))
                r_t = f[0](clipper(op.add(g(1, xt), rr)))
                rh = _slice(r_d, 1, 2 * hidden, 3 * hidden)
                rbh = _slice(rb, 0, 2 * hidden, 3 * hidden) if rb is not None else None
                if linear_before_reset:
                    hh = op.matmul(h, rh)
                    if rbh is not None:
                        hh = op.add(hh, rbh)
                    h_pre = op.add(g(2, xt), op.multiply(r_t, hh))
                else:
                    hh = op.matmul(op.multiply(r_t, h), rh)
                    if rbh is not None:
                        hh = op.add(hh, rbh)
                    h_pre = op.add(g(2, xt), hh)
                h_t = f[1](clipper(h_pre))
                h_new = op.add(
                    op.multiply(op.subtract(const(1, dtype), z_t), h_t), op.multiply(z_t, h)
                )
                c_new = None
            h_new = bb.normalize(h_new)
            if mask_at is not None:
                keep = bb.normalize(mask_at(t))
                outs[t] = bb.normalize(op.where(keep, h_new, op.zeros((batch, hidden), dtype)))
                h = bb.normalize(op.where(keep, h_new, h))
                if c_new is not None:
                    c = bb.normalize(op.where(keep, c_new, c))
            else:
                outs[t] = h_new
                h = h_new
                if c_new is not None:
                    c = c_new
        ys.append(op.stack([outs[t] for t in range(seq)], axis=0))  # [seq, batch, h]
        hs.append(h)
        cs.append(c)
    y = op.stack(ys, axis=1)  # [seq, dirs, batch, h]
    y_h = op.stack(hs, axis=0)
    if layout == 1:
        y = op.permute_dims(y, [2, 0, 1, 3])
        y_h = op.permute_dims(y_h, [1, 0, 2])
    results = [bb.normalize(y), bb.normalize(y_h)]
    if kind == "LSTM":
        y_c = op.stack(cs, axis=0)
        if layout == 1:
            y_c = op.permute_dims(y_c, [1, 0, 2])
        results.append(bb.normalize(y_c))
    return relax.Tuple(results)


def rb_as_row(rb):
    """A [G*h] bias used as a [1, G*h] row so gate slices run on axis 1."""
    from tvm import relax

    return relax.op.expand_dims(rb, [0])


@converter("LSTM", since=7, onward=True)
def lstm(bb, inputs, attr, params):
    """ONNX LSTM (forward, reverse, bidirectional; peepholes, clip, sequence_lens, layout)."""
    return _recurrent("LSTM", bb, inputs, attr)


@converter("GRU", since=7, onward=True)
def gru(bb, inputs, attr, params):
    """ONNX GRU (both linear_before_reset modes)."""
    return _recurrent("GRU", bb, inputs, attr)


@converter("RNN", since=7, onward=True)
def rnn(bb, inputs, attr, params):
    """ONNX RNN (simple recurrent cell)."""
    return _recurrent("RNN", bb, inputs, attr)
