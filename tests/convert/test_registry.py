"""The converter registry and the overlay of the frontend's converter table."""

from __future__ import annotations

import pytest

from tvmforge.convert import overlay, registry, supported_ops
from tvmforge.errors import InternalError


def test_frontend_still_has_the_table_we_overlay() -> None:
    """Fails loudly if TVM renames or removes the private table the overlay replaces."""
    from tvm.relax.frontend.onnx import onnx_frontend

    table = getattr(onnx_frontend, overlay.CONVERT_MAP_NAME)()
    assert "Conv" in table and hasattr(table["Conv"], "get_converter")


def test_overlay_refuses_a_renamed_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from tvm.relax.frontend.onnx import onnx_frontend

    monkeypatch.delattr(onnx_frontend, overlay.CONVERT_MAP_NAME)
    with pytest.raises(InternalError, match="_get_convert_map"):
        with overlay.frontend_overlay():
            pass


def test_overlay_is_scoped_and_restores_the_table() -> None:
    from tvm.relax.frontend.onnx import onnx_frontend

    original = onnx_frontend._get_convert_map
    assert "LSTM" not in original()
    with overlay.frontend_overlay() as table:
        assert onnx_frontend._get_convert_map() is table
        assert table["LSTM"].get_converter(14) is registry.resolve("LSTM", 14)
        # versions we do not register fall back to the frontend's own class
        assert table["Conv"] is original()["Conv"]
    assert onnx_frontend._get_convert_map is original


def test_resolution_follows_the_schema_version() -> None:
    lstm_7 = registry.resolve("LSTM", 13)
    assert lstm_7 is not None
    assert registry.since_version("LSTM", 13) == 7
    assert registry.since_version("LSTM", 23) == 22
    assert registry.covers("LSTM", 23)
    assert not registry.covers("LSTM", 6)  # LSTM-1 differs; we do not register it


def test_onward_registers_every_later_schema_version() -> None:
    cast = registry.resolve("Cast", 13)
    assert cast is not None
    versions = registry._all_schema_versions()[("", "Cast")]
    assert all(registry.resolve("Cast", v) is cast for v in versions if v >= 13)
    assert registry.resolve("Cast", 9) is not cast  # before 13: the frontend's


def test_duplicate_registration_is_refused_at_import_time() -> None:
    with pytest.raises(InternalError, match="registered twice"):

        @registry.converter("LSTM", since=14)
        def again(bb, inputs, attr, params):  # pragma: no cover - never called
            return None


def test_since_must_be_a_schema_version() -> None:
    with pytest.raises(InternalError, match="register since=14"):

        @registry.converter("GRU", since=15)
        def wrong(bb, inputs, attr, params):  # pragma: no cover - never called
            return None


def test_unknown_op_is_refused() -> None:
    with pytest.raises(InternalError, match="no op"):

        @registry.converter("NoSuchOp", since=1)
        def nothing(bb, inputs, attr, params):  # pragma: no cover - never called
            return None


def test_supported_ops_include_ours() -> None:
    assert {"LSTM", "GRU", "RNN", "Conv", "If"} <= supported_ops()


def test_op_we_cover_only_at_other_opsets_is_reported_up_front() -> None:
    from onnx import TensorProto, helper

    from tvmforge.convert import check_supported
    from tvmforge.errors import UnsupportedOperatorError

    node = helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=2)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "xwr"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)])
    with pytest.raises(UnsupportedOperatorError, match=r"LSTM \(opset 6\)"):
        check_supported(model)


def test_other_domains_pass_only_where_we_register_them() -> None:
    from onnx import TensorProto, helper

    from tvmforge.convert import check_supported
    from tvmforge.errors import UnsupportedOperatorError

    def model(op: str, ml_opset: int):
        node = helper.make_node(op, ["x"], ["y"], domain="ai.onnx.ml")
        graph = helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        )  # fmt: skip
        opsets = [helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", ml_opset)]
        return helper.make_model(graph, opset_imports=opsets)

    check_supported(model("Binarizer", 3))
    with pytest.raises(UnsupportedOperatorError, match=r"ai\.onnx\.ml\.Scaler \(opset 3\)"):
        check_supported(model("Scaler", 3))


def test_overlay_resolves_other_domains_at_their_own_opset() -> None:
    with overlay.frontend_overlay({"": 21, "ai.onnx.ml": 5}) as table:
        tree = registry.resolve("TreeEnsemble", 5, "ai.onnx.ml")
        assert table["TreeEnsemble"].get_converter(21) is tree
    with overlay.frontend_overlay({"": 21}) as table:
        assert "TreeEnsemble" not in table
