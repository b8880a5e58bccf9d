from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tvmforge.errors import ModelLoadError
from tvmforge.load import load_model


def test_loads_and_hashes(conv_net: Path) -> None:
    model = load_model(conv_net)
    assert model.name == "convnet"
    assert len(model.sha256) == 64
    assert model.opset == 17


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope.onnx")


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a file"):
        load_model(tmp_path)


def test_not_onnx(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_text("this is not a protobuf at all, just text\n" * 20)
    with pytest.raises(ModelLoadError, match="ONNX"):
        load_model(bogus)


def test_truncated(tmp_path: Path, conv_net: Path) -> None:
    data = conv_net.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="corrupt or truncated|checker|no ONNX graph"):
        load_model(cut)


def _external_model(folder: Path, location: str) -> Path:
    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "W"], ["b"])],
        "ext",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "ext.onnx"
    onnx.save(model, path, save_as_external_data=True, location="ext.data", size_threshold=0)
    if location != "ext.data":  # point the tensor somewhere else
        proto = onnx.load(path, load_external_data=False)
        for entry in proto.graph.initializer[0].external_data:
            if entry.key == "location":
                entry.value = location
        onnx.save(proto, path)
    return path


def test_external_data_next_to_model(tmp_path: Path) -> None:
    model = load_model(_external_model(tmp_path, "ext.data"))
    weight = model.proto.graph.initializer[0]
    assert numpy_helper.to_array(weight).sum() == 16


def test_external_data_escaping_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="outside the model's folder"):
        load_model(_external_model(tmp_path, "../../etc/passwd"))


def test_external_data_missing(tmp_path: Path) -> None:
    path = _external_model(tmp_path, "ext.data")
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(path)
