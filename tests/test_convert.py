from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests import models
from tvmforge.convert import check_supported, supported_ops, to_relax
from tvmforge.convert.rewrites import sum_of_two_to_add
from tvmforge.errors import UnsupportedOperatorError
from tvmforge.load import load_model
from tvmforge.shapes import bind_shapes


def test_unsupported_ops_listed_once_with_counts(tmp_path: Path) -> None:
    proto = onnx.load(models.custom_ops(tmp_path / "custom.onnx"))
    with pytest.raises(UnsupportedOperatorError) as err:
        check_supported(proto)
    message = str(err.value)
    assert message.startswith("3 node(s) use 2 unsupported operator(s)")
    assert "com.example.FancyOp (opset 1) x2 [fancy_a, fancy_b]" in message
    assert "com.example.OtherOp (opset 1) x1 [other]" in message


def test_common_ops_supported() -> None:
    assert {"Conv", "MatMul", "Gemm", "Relu", "Resize", "If", "Constant"} <= supported_ops()


def test_sum_of_two_becomes_add() -> None:
    graph = helper.make_graph(
        [
            helper.make_node("Sum", ["a", "b"], ["c"]),
            helper.make_node("Sum", ["a", "b", "c"], ["d"]),
        ],
        "sums",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in "ab"],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, [2])],
    )
    rewritten = sum_of_two_to_add(helper.make_model(graph))
    assert [n.op_type for n in rewritten.graph.node] == ["Add", "Sum"]
    assert [n.op_type for n in graph.node] == ["Sum", "Sum"]  # input untouched


def test_to_relax_has_constant_weights(mlp: Path) -> None:
    mod = to_relax(bind_shapes(load_model(mlp)))
    params = [p.name for p in mod["main"].params]
    assert params == ["features"]  # weights are constants, not parameters
