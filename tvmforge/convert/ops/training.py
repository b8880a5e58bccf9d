"""Optimizer steps of ai.onnx.preview.training: Adagrad, Momentum, Adam.

Each takes ``R`` (learning rate) and ``T`` (step count), then one group of tensors per optimized
variable (``X...``, ``G...``, then the optimizer's state groups) and returns the updated groups
in the same order, as ``onnx.reference``'s implementations do.
"""

from __future__ import annotations

from ..registry import converter
from ._common import const, dtype_of

TRAINING = "ai.onnx.preview.training"


def _groups(inputs, count: int) -> list[list]:
    """The per-variable groups after ``R, T``: ``count`` lists of equal length."""
    rest = list(inputs[2:])
    n = len(rest) // count
    return [rest[i * n : (i + 1) * n] for i in range(count)]


def _scalar(bb, expr, dtype: str):
    from tvm import relax

    return bb.normalize(relax.op.astype(expr, dtype))


def _outputs(groups: list[list]):
    from tvm import relax

    return relax.Tuple([x for group in groups for x in group])


@converter("Adagrad", since=1, domain=TRAINING)
def adagrad(bb, inputs, attr, params):
    """``x - r / (1 + t * decay) * g' / (sqrt(h + g'^2) + eps)`` with ``g' = norm * x + g``."""
    from tvm import relax

    op = relax.op
    xs, gs, hs = _groups(inputs, 3)
    dtype = dtype_of(xs[0])
    r, t = _scalar(bb, inputs[0], dtype), _scalar(bb, inputs[1], dtype)
    decay, eps = attr.get("decay_factor", 0.0), attr.get("epsilon", 0.0)
    rate = bb.normalize(op.divide(r, op.add(const(1, dtype), op.multiply(t, const(decay, dtype)))))
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs, strict=True):
        g = bb.normalize(op.add(op.multiply(const(attr.get("norm_coefficient", 0.0), dtype), x), g))
        h = bb.normalize(op.add(h, op.multiply(g, g)))
        scale = op.add(op.sqrt(h), const(eps, dtype))
        new_x.append(op.subtract(x, op.divide(op.multiply(rate, g), scale)))
        new_h.append(h)
    return _outputs([new_x, new_h])


@converter("Momentum", since=1, domain=TRAINING)
def momentum(bb, inputs, attr, params):
    """SGD with (``standard``) or Nesterov (``nesterov``) momentum; beta is 1 at step 0."""
    from tvm import relax

    op = relax.op
    xs, gs, vs = _groups(inputs, 3)
    dtype = dtype_of(xs[0])
    r = _scalar(bb, inputs[0], dtype)
    alpha, beta = const(attr["alpha"], dtype), const(attr["beta"], dtype)
    step = bb.normalize(op.greater(inputs[1], const(0, dtype_of(inputs[1]))))
    beta = bb.normalize(op.where(step, beta, const(1, dtype)))
    nesterov = attr.get("mode", b"standard") in (b"nesterov", "nesterov")
    norm = const(attr["norm_coefficient"], dtype)
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs, strict=True):
        g = bb.normalize(op.add(op.multiply(norm, x), g))
        v = bb.normalize(op.add(op.multiply(alpha, v), op.multiply(beta, g)))
        step_dir = op.add(g, op.multiply(alpha, v)) if nesterov else v
        new_x.append(op.subtract(x, op.multiply(r, step_dir)))
        new_v.append(v)
    return _outputs([new_x, new_v])


@converter("Adam", since=1, domain=TRAINING)
def adam(bb, inputs, attr, params):
    """Adam with bias correction after step 0 and optional post-update weight decay."""
    from tvm import relax

    op = relax.op
    xs, gs, vs, hs = _groups(inputs, 4)
    dtype = dtype_of(xs[0])
    alpha, beta = attr.get("alpha", 0.9), attr.get("beta", 0.999)
    r, t = _scalar(bb, inputs[0], dtype), _scalar(bb, inputs[1], dtype)
    one = const(1, dtype)
    corrected = op.divide(
        op.multiply(r, op.sqrt(op.subtract(one, op.power(const(beta, dtype), t)))),
        op.subtract(one, op.power(const(alpha, dtype), t)),
    )
    rate = bb.normalize(op.where(op.greater(t, const(0, dtype)), corrected, r))
    norm, post = attr.get("norm_coefficient", 0.0), attr.get("norm_coefficient_post", 0.0)
    eps = const(attr.get("epsilon", 0.0), dtype)
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs, strict=True):
        g = bb.normalize(op.add(op.multiply(const(norm, dtype), x), g))
        v = bb.normalize(
            op.add(op.multiply(const(alpha, dtype), v), op.multiply(const(1 - alpha, dtype), g))
        )
        h = bb.normalize(
            op.add(
                op.multiply(const(beta, dtype), h),
                op.multiply(const(1 - beta, dtype), op.multiply(g, g)),
            )
        )
        x = op.subtract(x, op.multiply(rate, op.divide(v, op.add(op.sqrt(h), eps))))
        new_x.append(op.multiply(const(1 - post, dtype), x))
        new_v.append(v)
        new_h.append(h)
    return _outputs([new_x, new_v, new_h])
