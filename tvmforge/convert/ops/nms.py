"""NonMaxSuppression with the ONNX threshold rule and no silent defaults.

TVM's kernel suppresses a box when IoU >= threshold, ONNX when IoU > threshold: the threshold
given to TVM is the next float32 above ONNX's. The frontend reads a non-constant
max_output_boxes_per_class or threshold as a default (0 boxes, 0.5, 0.0); here it is an error.
An absent score_threshold stays 0 as in the frontend (ONNX keeps every score): TVM's kernel
mishandles negative scores, so boxes scored below 0 are dropped.
"""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, constant_value, frontend_converter

#: (input position, name, value when the input is absent)
_PARAMETERS = ((2, "max_output_boxes_per_class", 0), (3, "iou_threshold", 0.0),
               (4, "score_threshold", 0.0))  # fmt: skip


@converter("NonMaxSuppression", since=10, onward=True)
def non_max_suppression(bb, inputs, attr, params):
    """The frontend's NonMaxSuppression with constant parameters, IoU compared strictly."""

    values = []
    for pos, name, default in _PARAMETERS:
        if len(inputs) <= pos or inputs[pos] is None:
            values.append(default)
            continue
        value = constant_value(inputs[pos], params)
        if value is None:
            raise UnsupportedOperatorError(
                f"NonMaxSuppression {name} must be a constant (an initializer)"
            )
        values.append(value.reshape(-1)[0].item())
    max_boxes, iou, score = values
    iou = np.nextafter(np.float32(iou), np.float32(np.inf))
    consts = [const(max_boxes, "int64"), const(iou, "float32"), const(score, "float32")]
    nms = frontend_converter("NonMaxSuppression", 11)
    return nms(bb, [inputs[0], inputs[1], *consts], attr, params)
