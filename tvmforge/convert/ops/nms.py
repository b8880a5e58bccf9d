"""NonMaxSuppression with the ONNX threshold rule and no silent defaults.

TVM's kernel suppresses a box when IoU >= threshold, ONNX when IoU > threshold: the threshold
given to TVM is the next float32 above ONNX's. The frontend reads a non-constant
max_output_boxes_per_class or threshold as a default (0 boxes, 0.5, 0.0); here a parameter fed
at run time goes into the computation: thresholds as scalar tensors, and the box limit by
selecting up to every box of a class, then keeping each class's first ``max`` rows.
An absent score_threshold stays 0 as in the frontend (ONNX keeps every score): TVM's kernel
mishandles negative scores, so boxes scored below 0 are dropped.
"""

from __future__ import annotations

import numpy as np

from ..registry import converter
from ._common import const, constant_value, frontend_converter, shape_value, static_shape

#: (input position, name, value when the input is absent)
_PARAMETERS = ((2, "max_output_boxes_per_class", 0), (3, "iou_threshold", 0.0),
               (4, "score_threshold", 0.0))  # fmt: skip


@converter("NonMaxSuppression", since=10, onward=True)
def non_max_suppression(bb, inputs, attr, params):
    """The frontend's NonMaxSuppression with constant parameters, IoU compared strictly;
    parameters fed at run time take the path of ``_run_time_nms``."""
    given = [inputs[pos] if len(inputs) > pos else None for pos, _, _ in _PARAMETERS]
    values = []
    for tensor, (_, _, default) in zip(given, _PARAMETERS, strict=True):
        value = default if tensor is None else constant_value(tensor, params)
        values.append(None if value is None else np.asarray(value).reshape(-1)[0].item())
    if None in values:
        return _run_time_nms(bb, inputs[0], inputs[1], given, values, attr, params)
    max_boxes, iou, score = values
    iou = np.nextafter(np.float32(iou), np.float32(np.inf))
    consts = [const(max_boxes, "int64"), const(iou, "float32"), const(score, "float32")]
    nms = frontend_converter("NonMaxSuppression", 11)
    return nms(bb, [inputs[0], inputs[1], *consts], attr, params)


def _run_time_nms(bb, boxes, scores, given, values, attr, params):
    """NMS over thresholds and a box limit any of which may be fed at run time."""
    from tvm import relax, topi

    op = relax.op
    batch, classes, n_boxes = static_shape(scores)
    if attr.get("center_point_box", 0):
        boxes = _corners(bb, boxes)
    max_boxes, iou, score = (
        const(value, dtype) if tensor is None or value is not None
        else bb.normalize(op.reshape(op.astype(tensor, dtype), []))
        for tensor, value, dtype in zip(given, values, ("int64", "float32", "float32"), strict=True)
    )  # fmt: skip
    bound = n_boxes if values[0] is None else int(values[0])
    rows = batch * classes * max(bound, _TOPI_MIN_ROWS_PER_CLASS)
    selected = bb.emit_te(
        topi.vision.all_class_non_max_suppression,
        boxes, scores, bound, bb.emit_te(_next_above, iou), score, "onnx", (rows, 3),
    )  # fmt: skip
    indices, count = bb.emit(relax.TupleGetItem(selected, 0)), relax.TupleGetItem(selected, 1)
    if values[0] is None:
        limited = bb.emit(_limit_per_class(bb, indices, bb.emit(count), max_boxes, rows))
        indices, count = relax.TupleGetItem(limited, 0), relax.TupleGetItem(limited, 1)
    (n,) = shape_value(bb, bb.emit(count), params, "nms_selected").values
    return bb.emit(op.strided_slice(indices, axes=[0], begin=[0], end=[n], assume_inbound=True))


#: TOPI zeroes ``batch * classes * 10`` output rows when the box limit is not a Python int
#: (``_collect_selected_indices_ir``); ours is, but the buffer is sized to hold them anyway.
_TOPI_MIN_ROWS_PER_CLASS = 10


def _corners(bb, boxes):
    """Boxes given as [x_center, y_center, width, height] as corners [x1, y1, x2, y2]."""
    from tvm import relax

    op = relax.op
    center = op.strided_slice(boxes, axes=[2], begin=[0], end=[2])
    half = op.divide(op.strided_slice(boxes, axes=[2], begin=[2], end=[4]), const(2.0, "float32"))
    return bb.normalize(op.concat([op.subtract(center, half), op.add(center, half)], axis=2))


def _next_above(threshold):
    """TE: the float32 just above a non-negative scalar threshold (IoU > t as IoU >= t')."""
    from tvm import te, tirx

    def next_float():
        bits = tirx.reinterpret("int32", threshold())
        above = tirx.reinterpret("float32", bits + tirx.const(1, "int32"))
        return tirx.if_then_else(threshold() >= tirx.const(0.0, "float32"), above, threshold())

    return te.compute((), next_float, name="iou_above")


def _limit_per_class(bb, indices, count, limit, rows: int):
    """Of the first ``count`` rows of ``indices`` (grouped by batch and class, best first),
    each group's first ``limit``, packed at the top; returns (rows, kept count)."""
    from tvm import relax

    func = bb.add_func(_limit_rows_func(), "nms_limit_per_class")
    return relax.call_tir(
        func,
        [indices, count, limit],
        out_ty=[relax.TensorType([rows, 3], "int64"), relax.TensorType([1], "int64")],
    )


def _limit_rows_func():
    from tvm.script import tirx as T

    @T.prim_func(private=True)
    def limit_rows(
        p_rows: T.handle,
        count: T.Buffer((1,), "int64"),
        limit: T.Buffer((), "int64"),
        p_out: T.handle,
        kept: T.Buffer((1,), "int64"),
    ):
        n = T.int64()
        rows = T.match_buffer(p_rows, (n, 3), "int64")
        out = T.match_buffer(p_out, (n, 3), "int64")
        run = T.alloc_buffer((1,), "int64")
        kept[0] = T.int64(0)
        run[0] = T.int64(0)
        for r in range(count[0]):
            if r == T.int64(0):
                run[0] = T.int64(0)
            elif rows[r, 0] == rows[r - 1, 0] and rows[r, 1] == rows[r - 1, 1]:
                run[0] = run[0] + T.int64(1)
            else:
                run[0] = T.int64(0)
            if run[0] < limit[()]:
                for c in range(3):
                    out[kept[0], c] = rows[r, c]
                kept[0] = kept[0] + T.int64(1)

    return limit_rows
