from pathlib import Path

import pytest

from tvmforge.errors import ShapeError
from tvmforge.load import load_model
from tvmforge.shapes import bind_shapes, parse_input_shapes


def test_parse_input_shapes() -> None:
    assert parse_input_shapes(["x=1,3,224,224", "mask=1,128"]) == {
        "x": (1, 3, 224, 224),
        "mask": (1, 128),
    }


@pytest.mark.parametrize("bad", ["x", "x=", "=1,2", "x=1,a", "x=0,3"])
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(ShapeError, match="NAME=D1,D2"):
        parse_input_shapes([bad])


def test_unbound_dim_names_input_dim_and_flag(conv_net: Path) -> None:
    with pytest.raises(ShapeError) as err:
        bind_shapes(load_model(conv_net))
    message = str(err.value)
    assert "input 'x' dim 'N' is unbound" in message
    assert "--input-shape x=1,3,16,16" in message


def test_bind_and_simplify_folds_batchnorm(conv_net: Path) -> None:
    bound = bind_shapes(load_model(conv_net), {"x": (2, 3, 16, 16)})
    assert bound.input_shapes == {"x": (2, 3, 16, 16)}
    ops = [node.op_type for node in bound.proto.graph.node]
    assert "BatchNormalization" not in ops  # folded into the conv
    out = bound.proto.graph.output[0].type.tensor_type.shape
    assert [d.dim_value for d in out.dim] == [2, 10]


def test_contradicting_and_unknown_shapes_reported_together(conv_net: Path) -> None:
    with pytest.raises(ShapeError) as err:
        bind_shapes(load_model(conv_net), {"x": (1, 4, 16, 16), "nope": (1,)})
    message = str(err.value)
    assert "'nope', which is not an input" in message
    assert "dim 1 is 3 in the model, not 4" in message


def test_wrong_rank(conv_net: Path) -> None:
    with pytest.raises(ShapeError, match="has 2 dims but the model declares 4"):
        bind_shapes(load_model(conv_net), {"x": (1, 3)})
