"""Optional ops: OptionalHasElement without an input, which the frontend refuses."""

from __future__ import annotations

from ..registry import converter


def _has_element(since: int):
    def convert(bb, inputs, attr, params):
        """No input is an empty optional: false; otherwise the frontend's converter decides."""
        from tvm import relax

        from ..._tvm import onnx_frontend

        if not inputs:
            return relax.const(False, "bool")
        return onnx_frontend.OptionalHasElement.get_converter(since)(bb, inputs, attr, params)

    return converter("OptionalHasElement", since=since)(convert)


for _since in (15, 18, 28):
    _has_element(_since)
