"""The shipped classifier on frames rendered here: a car in a bay reads occupied, an empty bay empty."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edge_agent.bays.classifier import BayClassifier
from edge_agent.bays.crop import bay_crop
from edge_agent.sim.synthetic import BAYS, Car, Scene, render

CAR_A = Car(x=250.0, plate=None, body=(180, 30, 30))
CAR_B = Car(x=700.0, plate=None, body=(200, 200, 205))


def test_car_in_one_bay_and_the_other_empty(classifier):
    p = classifier.classify(render(Scene(cars=(CAR_A,))), BAYS)
    assert set(p) == {"A", "B"}
    assert p["A"] > 0.5 > p["B"], p


def test_both_bays_follow_the_cars(classifier):
    empty = classifier.classify(render(Scene()), BAYS)
    full = classifier.classify(render(Scene(cars=(CAR_A, CAR_B))), BAYS)
    only_b = classifier.classify(render(Scene(cars=(CAR_B,))), BAYS)
    assert max(empty.values()) < 0.5 < min(full.values()), (empty, full)
    assert only_b["B"] > 0.5 > only_b["A"], only_b


def test_dim_frame_still_reads_the_car(classifier):
    p = classifier.classify(render(Scene(cars=(CAR_A,), brightness=0.45)), BAYS)
    assert p["A"] > 0.5 > p["B"], p


def test_predict_is_batched_and_order_preserving(classifier):
    frames = [render(Scene()), render(Scene(cars=(CAR_A,)))]
    crops = [bay_crop(f, BAYS["A"], size=classifier.size) for f in frames] * 3
    batch = classifier.predict(crops)
    singles = np.concatenate([classifier.predict([c]) for c in crops])
    assert batch.dtype == np.float32 and batch.shape == (6,)
    assert np.allclose(batch, singles, atol=1e-5)
    assert ((batch >= 0) & (batch <= 1)).all()
    assert classifier.predict([]).shape == (0,)


def test_other_crop_sizes_are_resized_to_the_model(classifier):
    frame = render(Scene(cars=(CAR_A,)))
    big = bay_crop(frame, BAYS["A"], size=classifier.size * 2)
    same = bay_crop(frame, BAYS["A"], size=classifier.size)
    assert abs(float(classifier.predict([big])[0]) - float(classifier.predict([same])[0])) < 0.15


def _macs_per_crop(path) -> int:
    """Multiply-accumulates of one crop through the graph (Conv and Gemm/MatMul, from inferred shapes)."""
    from onnx import numpy_helper, shape_inference

    graph = shape_inference.infer_shapes(onnx.load(str(path))).graph
    dims = {v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim]  # batch "n" counts as 1
            for v in (*graph.value_info, *graph.input, *graph.output)}
    weights = {w.name: numpy_helper.to_array(w).shape for w in graph.initializer}
    total = 0
    for node in graph.node:
        w = weights.get(node.input[1]) if len(node.input) > 1 else None
        out = dims.get(node.output[0])
        if w is None or out is None:
            continue
        if node.op_type == "Conv":
            total += int(np.prod(out)) * int(np.prod(w[1:]))  # each output: Cin/groups x kH x kW
        elif node.op_type in ("Gemm", "MatMul"):
            total += int(np.prod(out)) * int(w[0])
    return total


def test_the_shipped_models_fit_the_per_crop_compute_budget():
    """The contract's budget is <= 5 ms per bay crop on one core; speed is measured by `edge-agent occupancy bench`
    (in `make bench`), not by a timed test. What a test can hold without a clock is the work per crop: 50 M
    multiply-accumulates is ~1.4 ms at the 36 G/s onnxruntime reaches on one core of the reference box (0.57 ms for
    the shipped 21 M), so a model that outgrew the budget fails here on any machine, loaded or not."""
    from tests.conftest import MODELS

    for name in ("occupancy.onnx", "occupancy-site.onnx"):
        macs = _macs_per_crop(MODELS / name)
        assert 1_000_000 < macs <= 50_000_000, (name, macs)  # the lower bound: the counter saw the convolutions


def test_the_shipped_models_fit_the_budget_and_can_be_calibrated(classifier):
    """<= 2 MB on disk (the issue's budget); the pooled features and the head a per-site calibration refits."""
    from tests.conftest import MODELS

    assert all((MODELS / m).stat().st_size <= 2_000_000 for m in ("occupancy.onnx", "occupancy-site.onnx"))
    crop = bay_crop(render(Scene(cars=(CAR_A,))), BAYS["A"], size=classifier.size)
    assert classifier.model_sha256 and len(classifier.head().w) == classifier.features([crop]).shape[1]


def test_a_model_with_the_wrong_input_is_refused(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 64, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 64, 32])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ValueError, match=r"\[N, 3, S, S\]"):
        BayClassifier(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))


def test_missing_model_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        BayClassifier.load(tmp_path / "nope.onnx")


def _model(tmp_path, scale: float, shift: float):
    """A real ONNX graph: mean pixel * scale / shift — shift 0 turns 0 * x / 0 into NaN."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Mul", ["m", "s"], ["ms"]), helper.make_node("Div", ["ms", "d"], ["y"])]
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [scale]), helper.make_tensor("d", TensorProto.FLOAT, [], [shift])]
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits),
                                opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return BayClassifier.load(path)


def test_a_nan_from_the_model_reads_as_unsure_not_empty(tmp_path):
    clf = _model(tmp_path, 0.0, 0.0)
    p = clf.predict([np.full((8, 8, 3), 100, np.uint8)])
    assert p.tolist() == [0.5]  # 0.5: the interlock's "uncertain", never a confident "empty"


def test_model_output_is_clipped_to_a_probability(tmp_path):
    clf = _model(tmp_path, 1.0, 1.0)  # returns the mean pixel: 0..255
    p = clf.predict([np.full((8, 8, 3), 200, np.uint8), np.zeros((8, 8, 3), np.uint8)])
    assert p.tolist() == [1.0, 0.0]
