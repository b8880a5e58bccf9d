"""ai.onnx.ml TreeEnsemble as dense tensor algebra, one padded block per tree.

At import, each tree's leaves are listed with the node conditions on their paths. At run time
every node's condition is evaluated at once; a leaf is reached when all conditions on its path
hold, which one batched matmul counts (``hits == path length``). Leaf weights then aggregate
per target: a second matmul for SUM/AVERAGE, a masked reduction for MIN/MAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UnsupportedOperatorError
from ..registry import converter
from ._common import const, dtype_of, static_shape

LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = range(7)
SUM_LIKE = {0: "AVERAGE", 1: "SUM"}


def _array(value) -> np.ndarray:
    """A tensor attribute (TensorProto) or a list attribute as numpy."""
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(value) if isinstance(value, TensorProto) else np.asarray(value)


@dataclass(frozen=True, slots=True)
class _Tree:
    """One tree: its nodes (global ids) and, per leaf, its id and path [(node, taken)]."""

    nodes: list[int]
    leaves: list[tuple[int, list[tuple[int, bool]]]]


def _walk(root: int, attr) -> _Tree:
    """The tree at ``root``, leaves in depth-first order."""
    true_ids, false_ids = attr["nodes_truenodeids"], attr["nodes_falsenodeids"]
    true_leaf, false_leaf = attr["nodes_trueleafs"], attr["nodes_falseleafs"]
    if true_leaf[root] and false_leaf[root] and true_ids[root] == false_ids[root]:
        return _Tree([], [(true_ids[root], [])])  # a tree that is one leaf
    nodes, leaves = [], []

    def visit(node: int, path: list[tuple[int, bool]]) -> None:
        nodes.append(node)
        for taken, child, is_leaf in ((True, true_ids, true_leaf), (False, false_ids, false_leaf)):
            step = [*path, (node, taken)]
            if is_leaf[node]:
                leaves.append((child[node], step))
            else:
                visit(child[node], step)

    visit(root, [])
    return _Tree(nodes, leaves)


def _members(attr) -> dict[int, list[float]]:
    """Each MEMBER node's set, read from ``membership_values`` (NaN-separated, node order)."""
    modes = _array(attr["nodes_modes"])
    values = iter(_array(attr["membership_values"]).tolist() if "membership_values" in attr else [])
    sets = {}
    for node in np.flatnonzero(modes == MEMBER):
        members = sets[int(node)] = []
        while not np.isnan(value := next(values)):
            members.append(value)
    return sets


def _conditions(bb, x, trees: list[_Tree], attr, width: int, dtype: str):
    """Every node's condition as 0/1 ``dtype``, shaped (trees, batch, width)."""
    from tvm import relax

    op = relax.op
    splits = _array(attr["nodes_splits"]).astype(dtype)
    features = np.asarray(attr["nodes_featureids"], "int64")
    modes = _array(attr["nodes_modes"]).astype("int64")
    tracks = np.asarray(attr.get("nodes_missing_value_tracks_true", [0] * len(modes)), bool)
    sets = _members(attr)
    most = max((len(s) for s in sets.values()), default=0)
    grid = {
        "feature": np.zeros((len(trees), width), "int64"),
        "split": np.zeros((len(trees), width), dtype),
        "mode": np.full((len(trees), width), LEQ, "int64"),
        "tracks": np.zeros((len(trees), width), bool),
        "members": np.full((max(most, 1), len(trees), width), np.nan, dtype),
    }
    for t, tree in enumerate(trees):
        for j, node in enumerate(tree.nodes):
            grid["feature"][t, j], grid["split"][t, j] = features[node], splits[node]
            grid["mode"][t, j], grid["tracks"][t, j] = modes[node], tracks[node]
            grid["members"][: len(sets.get(node, [])), t, j] = sets.get(node, [])
    batch = static_shape(x)[0]
    values = op.take(x, const(grid["feature"].reshape(-1), "int64"), axis=1)
    values = bb.normalize(
        op.permute_dims(op.reshape(values, [batch, len(trees), width]), [1, 0, 2])
    )
    split = const(grid["split"][:, None, :], dtype)
    nan = bb.normalize(op.isnan(values))
    member = op.sum(
        op.astype(
            op.equal(op.expand_dims(values, 0), const(grid["members"][:, :, None, :], dtype)), dtype
        ),
        axis=[0],
    )
    by_mode = [
        op.less_equal(values, split),
        op.less(values, split),
        op.greater_equal(values, split),
        op.greater(values, split),
        op.equal(values, split),
        op.logical_or(op.not_equal(values, split), nan),
        op.greater(member, const(0, dtype)),
    ]
    mode = const(grid["mode"][:, None, :], "int64")
    cond = by_mode[0]
    for m in range(1, len(by_mode)):
        cond = op.where(op.equal(mode, const(m, "int64")), by_mode[m], cond)
    cond = op.logical_or(cond, op.logical_and(nan, const(grid["tracks"][:, None, :], "bool")))
    return bb.normalize(op.astype(cond, dtype))


@converter("TreeEnsemble", since=5, domain="ai.onnx.ml")
def tree_ensemble(bb, inputs, attr, params):
    """Tree ensemble regression with SUM, AVERAGE, MIN or MAX over trees (post_transform NONE,
    as in onnx.reference)."""
    from tvm import relax

    op = relax.op
    x = inputs[0]
    dtype = dtype_of(x)
    aggregate = int(attr.get("aggregate_function", 1))
    if int(attr.get("post_transform", 0)) != 0:
        raise UnsupportedOperatorError("TreeEnsemble with a post_transform other than NONE")
    trees = [_walk(int(r), attr) for r in attr["tree_roots"]]
    width = max(max(len(t.nodes) for t in trees), 1)
    leaves = max(len(t.leaves) for t in trees)
    targets = int(attr["n_targets"])
    weights = _array(attr["leaf_weights"]).astype(dtype)
    target_ids = np.asarray(attr["leaf_targetids"], "int64")
    on_path = np.zeros((len(trees), width, leaves), dtype)
    base = np.zeros((len(trees), leaves), dtype)
    length = np.full((len(trees), leaves), -1, dtype)
    leaf_weight = np.zeros((len(trees), leaves, targets), dtype)
    for t, tree in enumerate(trees):
        position = {node: j for j, node in enumerate(tree.nodes)}
        for k, (leaf, path) in enumerate(tree.leaves):
            for node, taken in path:  # a false branch counts as 1 - condition
                on_path[t, position[node], k] += 1 if taken else -1
                base[t, k] += 0 if taken else 1
            length[t, k] = len(path)
            leaf_weight[t, k, target_ids[leaf]] = weights[leaf]
    cond = _conditions(bb, x, trees, attr, width, dtype)
    hits = op.add(op.matmul(cond, const(on_path, dtype)), const(base[:, None, :], dtype))
    reached = bb.normalize(op.equal(hits, const(length[:, None, :], dtype)))
    if aggregate in SUM_LIKE:
        total = op.sum(op.matmul(op.astype(reached, dtype), const(leaf_weight, dtype)), axis=[0])
        return op.divide(total, const(len(trees), dtype)) if aggregate == 0 else total
    mask = np.zeros((len(trees), leaves, targets), bool)
    for t, tree in enumerate(trees):
        for k, (leaf, _) in enumerate(tree.leaves):
            mask[t, k, target_ids[leaf]] = True
    info = np.finfo(dtype)
    empty = info.max if aggregate == 2 else info.min
    chosen = op.logical_and(op.expand_dims(reached, [-1]), const(mask[:, None], "bool"))
    values = op.where(chosen, const(leaf_weight[:, None], dtype), const(empty, dtype))
    reduce = op.min if aggregate == 2 else op.max
    return reduce(values, axis=[0, 2])
