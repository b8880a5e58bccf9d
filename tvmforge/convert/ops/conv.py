"""ConvTranspose with ``output_shape``: pads as the ONNX spec derives them from it.

The frontend ignores ``output_shape``, so an output the spec makes larger than the plain
transposed convolution (a negative total padding) came out short. Here the pads are derived
first; a negative total padding becomes output padding. (SAME padding without output_shape
stays the frontend's, which clamps the total padding at 0 as onnxruntime does.)
"""

from __future__ import annotations

from ..registry import converter
from ._common import frontend_converter, static_shape, text


def _pads(attr, x_shape: list[int], kernel: list[int]) -> tuple[list[int], list[int]]:
    """(pads, output_padding) giving the spec's output shape."""
    dims = len(x_shape) - 2
    strides = list(attr.get("strides", [1] * dims))
    dilations = list(attr.get("dilations", [1] * dims))
    extra = list(attr.get("output_padding", [0] * dims))
    auto_pad = text(attr.get("auto_pad", "NOTSET"))
    wanted = list(attr["output_shape"])[-dims:]
    begins, ends = [], []
    for i in range(dims):
        full = strides[i] * (x_shape[i + 2] - 1) + extra[i] + (kernel[i] - 1) * dilations[i] + 1
        total = full - wanted[i]
        if total < 0:  # a larger output than the plain one: the extra rows go at the end
            begin, end, extra[i] = 0, 0, extra[i] - total
        else:
            begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            end = total - begin
        begins.append(begin)
        ends.append(end)
    return begins + ends, extra


@converter("ConvTranspose", since=1, onward=True)
def conv_transpose(bb, inputs, attr, params):
    """The frontend's ConvTranspose, given explicit pads when ``output_shape`` decides them."""

    attr = dict(attr)
    if "output_shape" in attr:
        kernel = list(attr.get("kernel_shape") or static_shape(inputs[1])[2:])
        attr["pads"], attr["output_padding"] = _pads(attr, static_shape(inputs[0]), kernel)
        attr.pop("output_shape", None)
        attr.pop("auto_pad", None)
    return frontend_converter("ConvTranspose", 11)(bb, inputs, attr, params)
