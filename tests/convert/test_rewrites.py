"""ONNX-to-ONNX rewrites: folding what binding made static, function expansion, branches."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tvmforge.convert.rewrites import apply_rewrites
from tvmforge.convert.rewrites.branches import stub_invalid_branches
from tvmforge.convert.rewrites.fold import fold_constants
from tvmforge.convert.rewrites.freeze import freeze_inputs, shape_parameter_inputs
from tvmforge.convert.rewrites.functions import expand_functions
from tvmforge.convert.rewrites.precision import attention_in_float32

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, opset=17, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _ops(graph: onnx.GraphProto) -> list[str]:
    return [n.op_type for n in graph.node]


def test_shape_gather_concat_reshape_chain_folds() -> None:
    x = helper.make_tensor_value_info("x", F, [2, 3, 4])
    y = helper.make_tensor_value_info("y", F, [2, 12])
    idx = numpy_helper.from_array(np.array([0], dtype=np.int64), "idx")
    minus = numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus")
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "idx"], ["b"], axis=0),
        helper.make_node("Concat", ["b", "minus"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    model = _model(nodes, [x], [y], initializers=[idx, minus])
    folded = fold_constants(model)
    assert _ops(folded.graph) == ["Constant", "Reshape"]
    const = folded.graph.node[0].attribute[0].t
    assert numpy_helper.to_array(const).tolist() == [2, -1]
    assert _ops(model.graph) == ["Shape", "Gather", "Concat", "Reshape"]  # input untouched


def test_castlike_of_a_constant_to_a_typed_input_folds() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2])
    two = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "two")
    nodes = [
        helper.make_node("CastLike", ["two", "x"], ["c"]),
        helper.make_node("Mul", ["x", "c"], ["y"]),
    ]
    folded = fold_constants(_model(nodes, [x], [y], initializers=[two]))
    assert _ops(folded.graph) == ["Constant", "Mul"]
    value = numpy_helper.to_array(folded.graph.node[0].attribute[0].t)
    assert value.dtype == np.float16 and value.tolist() == [2, 3]


def test_if_with_constant_condition_is_inlined() -> None:
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    then = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", F, [2])],
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", F, [2])],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Size", ["s"], ["n"]),
        helper.make_node("Equal", ["n", "one"], ["c"]),
        helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other),
    ]
    one = numpy_helper.from_array(np.array(1, dtype=np.int64), "one")
    folded = fold_constants(_model(nodes, [x], [y], initializers=[one]))
    assert "If" not in _ops(folded.graph)
    assert "Relu" in _ops(folded.graph) and "Neg" not in _ops(folded.graph)


def test_constant_value_float_becomes_a_tensor() -> None:
    y = helper.make_tensor_value_info("y", F, [])
    model = _model([helper.make_node("Constant", [], ["y"], value_float=2.5)], [], [y])
    node = fold_constants(model).graph.node[0]
    assert node.attribute[0].name == "value"


def test_op_without_a_converter_expands_to_its_function_body() -> None:
    x = helper.make_tensor_value_info("x", F, [4, 6])
    y = helper.make_tensor_value_info("y", F, [2, 8])
    shape = numpy_helper.from_array(np.array([2, 8], dtype=np.int64), "shape")
    node = helper.make_node("CenterCropPad", ["x", "shape"], ["y"])
    expanded = expand_functions(_model([node], [x], [y], opset=18, initializers=[shape]))
    assert "CenterCropPad" not in _ops(expanded.graph)
    assert all(o.domain != "tvmforge.expand" for o in expanded.opset_import)


def test_attention_23_is_expanded_not_given_to_the_contrib_converter() -> None:
    q = helper.make_tensor_value_info("q", F, [1, 2, 3, 4])
    y = helper.make_tensor_value_info("y", F, [1, 2, 3, 4])
    node = helper.make_node("Attention", ["q", "q", "q"], ["y"])
    expanded = expand_functions(_model([node], [q], [y], opset=23))
    assert "Attention" not in _ops(expanded.graph)


def test_ill_typed_branch_is_stubbed() -> None:
    x = helper.make_tensor_value_info("x", F, [2, 3])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", F, [2, 3])
    good = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", F, None)],
    )
    # MatMul of [2, 3] by itself cannot type-check
    bad = helper.make_graph(
        [helper.make_node("MatMul", ["x", "x"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", F, None)],
    )
    model = _model(
        [helper.make_node("If", ["c"], ["y"], then_branch=good, else_branch=bad)], [x, c], [y]
    )
    stubbed = stub_invalid_branches(model)
    branches = {a.name: a.g for a in stubbed.graph.node[0].attribute}
    assert _ops(branches["then_branch"]) == ["Relu"]
    assert _ops(branches["else_branch"]) == ["Constant", "ConstantOfShape"]


def test_freeze_turns_shape_parameters_into_initializers() -> None:
    x = helper.make_tensor_value_info("x", F, [2, 3])
    k = helper.make_tensor_value_info("k", TensorProto.INT64, [1])
    vals = helper.make_tensor_value_info("v", F, [2, 1])
    idx = helper.make_tensor_value_info("i", TensorProto.INT64, [2, 1])
    model = _model([helper.make_node("TopK", ["x", "k"], ["v", "i"])], [x, k], [vals, idx])
    assert shape_parameter_inputs(model) == ["k"]
    frozen = freeze_inputs(model, {"k": np.array([1], dtype=np.int64)})
    assert [i.name for i in frozen.graph.input] == ["x"]
    assert [i.name for i in frozen.graph.initializer] == ["k"]


def test_freeze_follows_values_back_but_not_through_shape() -> None:
    x = helper.make_tensor_value_info("x", F, [2, 3])
    n = helper.make_tensor_value_info("n", TensorProto.INT64, [1])
    y = helper.make_tensor_value_info("y", F, [3, 2])
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], start=1),
        helper.make_node("Concat", ["s", "n"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    assert shape_parameter_inputs(_model(nodes, [x, n], [y])) == ["n"]


def test_apply_rewrites_keeps_a_plain_model() -> None:
    x = helper.make_tensor_value_info("x", F, [2])
    y = helper.make_tensor_value_info("y", F, [2])
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [x], [y])
    assert _ops(apply_rewrites(model).graph) == ["Relu"]


def test_half_attention_runs_in_float32() -> None:
    h = TensorProto.FLOAT16
    qkv = [helper.make_tensor_value_info(n, h, [1, 2, 3, 4]) for n in "qkv"]
    mask = helper.make_tensor_value_info("m", TensorProto.BOOL, [3, 3])
    y = helper.make_tensor_value_info("y", h, [1, 2, 3, 4])
    node = helper.make_node("Attention", ["q", "k", "v", "m"], ["y"])
    wrapped = attention_in_float32(_model([node], [*qkv, mask], [y], opset=23))
    assert _ops(wrapped.graph) == ["Cast", "Cast", "Cast", "Attention", "Cast"]
    assert list(wrapped.graph.node[3].input)[3] == "m"  # a bool mask stays bool
    assert wrapped.graph.node[-1].output[0] == "y"


def test_float32_attention_is_left_alone() -> None:
    qkv = [helper.make_tensor_value_info(n, F, [1, 2, 3, 4]) for n in "qkv"]
    y = helper.make_tensor_value_info("y", F, [1, 2, 3, 4])
    model = _model([helper.make_node("Attention", ["q", "k", "v"], ["y"])], qkv, [y], opset=23)
    assert _ops(attention_in_float32(model).graph) == ["Attention"]
