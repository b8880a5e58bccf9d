"""Functions no record covers get a default schedule only where it is safe and pays."""

from __future__ import annotations

import numpy as np
import pytest

from tvmforge.targets import resolve_target


def _lowered(build, shape=(2, 8, 8, 16)):
    """One Relax function ``main(x)`` built by ``build(op, x)``, lowered and fused."""
    from tvmforge._tvm import relax
    from tvmforge.optimize import lower

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(shape, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(build(relax.op, x))
        bb.emit_func_output(out)
    return lower(bb.get(), resolve_target("host"))


def _const(value, shape=()):
    from tvmforge._tvm import relax

    return relax.const(np.full(shape, value, "float32"))


def _hard_swish(op, x):
    """Scale, shift, hard-swish: PP-OCR's chain after each convolution."""
    a = op.add(op.multiply(x, _const(1.1, (1, 1, 1, 1))), _const(0.1, (1, 1, 1, 1)))
    relu6 = op.minimum(op.maximum(op.add(a, _const(3.0)), _const(0.0)), _const(6.0))
    return op.divide(op.multiply(a, relu6), _const(6.0))


def _unit_matmul_add(op, x):
    """A matmul over a reduction of extent 1, then an add: it must stay as written."""
    column = op.reshape(op.sum(x, axis=[3], keepdims=True), (2, 8, 8, 1))
    row = op.reshape(op.mean(x, axis=[1]), (2, 8, 1, 16))
    return op.add(op.matmul(column, row), x)


def _run(func, args):
    from tvmforge._tvm import tvm

    target = tvm.target.Target(resolve_target("host").target)
    lib = tvm.tirx.build(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    lib["main"](*args)
    return args[-1].numpy()


def _assert_same_results(naive, scheduled) -> None:
    """``scheduled`` computes what ``naive`` does, on random inputs."""
    from tvmforge._tvm import random_tensor

    rng = np.random.default_rng(0)
    args = [random_tensor(p.ty, rng) for p in naive.params]
    want = _run(naive, args)
    got = _run(scheduled, [*args[:-1], random_tensor(naive.params[-1].ty, rng)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _naive_and_scheduled(build, shape) -> list:
    """``(name, as written, default-scheduled)`` for each PrimFunc of ``build`` on ``shape``."""
    from tvmforge.default_schedules import apply_default_schedules

    mod = _lowered(build, shape)
    naive = _primfuncs(mod)  # before: the pass may reuse the module it is given
    scheduled = _primfuncs(apply_default_schedules(mod, resolve_target("host")))
    return [(name, func, scheduled[name]) for name, func in naive.items()]


def _primfuncs(mod):
    from tvmforge._tvm import tvm

    return {gv.name_hint: f for gv, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)}


def _scheduled(func) -> bool:
    return bool(func.attrs is not None and func.attrs.get("tirx.is_scheduled", False))


@pytest.mark.parametrize(("build", "expect_scheduled"), [(_hard_swish, True),
                                                          (_unit_matmul_add, False)])  # fmt: skip
def test_default_schedule_applies_where_safe_and_keeps_numerics(build, expect_scheduled) -> None:
    from tvmforge.default_schedules import apply_default_schedules

    mod = _lowered(build)
    naive = _primfuncs(mod)
    scheduled = _primfuncs(apply_default_schedules(mod, resolve_target("host")))
    elementwise = [n for n in naive if "matmul" in n or "divide" in n]
    assert elementwise
    for name in elementwise:
        assert _scheduled(scheduled[name]) == expect_scheduled, name
        _assert_same_results(naive[name], scheduled[name])


def _parallel_record(func):
    """``func`` as a record could leave it: its first block's outer loop parallel, scheduled."""
    from tvmforge._tvm import tvm

    sch = tvm.s_tir.Schedule(func)
    block = sch.get_child_blocks(sch.get_sblock("root"))[0]
    sch.parallel(sch.get_loops(block)[0])
    return sch.mod["main"].with_attr("tirx.is_scheduled", True)


@pytest.mark.parametrize(("record_s", "default_s", "replaced"), [(2.0, 1.0, 1), (1.0, 2.0, 0)])
def test_a_record_gives_way_to_a_faster_default(
    monkeypatch: pytest.MonkeyPatch, record_s: float, default_s: float, replaced: int
) -> None:
    """In a oneDNN build each parallel record of an elementwise function is timed against the
    default schedule (a stand-in timer here) and the faster is built in."""
    from tvmforge import _tvm
    from tvmforge.default_schedules import prefer_faster_defaults

    unscheduled = _lowered(_hard_swish)
    scheduled = unscheduled.clone()
    names = [n for n in _primfuncs(unscheduled) if "divide" in n]
    for name in names:  # a "record": the naive loops with the first one parallel
        scheduled[name] = _parallel_record(unscheduled[name]).with_attr("test.record", True)

    def timer(func, _args, _target) -> float:
        return record_s if func.attrs.get("test.record", False) else default_s

    monkeypatch.setattr(_tvm, "seconds_per_call", timer)
    mod, count = prefer_faster_defaults(scheduled, unscheduled, resolve_target("host"), 1)
    assert count == replaced * len(names)
    for name in names:
        kept = bool(mod[name].attrs.get("test.record", False))
        assert kept == (not replaced) and _scheduled(mod[name])


def test_a_serial_record_is_not_timed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from tvmforge import _tvm
    from tvmforge.default_schedules import prefer_faster_defaults

    unscheduled = _lowered(_hard_swish)
    scheduled = unscheduled.clone()
    for name in [n for n in _primfuncs(unscheduled) if "divide" in n]:
        scheduled[name] = unscheduled[name].with_attr("tirx.is_scheduled", True)

    def timer(*_args) -> float:
        raise AssertionError("a serial record was timed")

    monkeypatch.setattr(_tvm, "seconds_per_call", timer)
    assert prefer_faster_defaults(scheduled, unscheduled, resolve_target("host"), 1)[1] == 0


def _max_pool(op, x):
    return op.nn.max_pool2d(x, pool_size=(3, 3), strides=(2, 2), padding=(1, 1), layout="NHWC")


@pytest.mark.parametrize(("build", "shape", "parallel"), [
    (_hard_swish, (1, 64, 64, 32), True),  # 131k elements: parallel
    (_max_pool, (1, 56, 56, 64), True),  # a pooling (a reduction) too
    (_hard_swish, (2, 8, 8, 16), False),  # 2k: a launch would cost more than the work
])  # fmt: skip
def test_large_loop_nests_run_in_parallel(build, shape, parallel: bool) -> None:
    for name, naive, scheduled in _naive_and_scheduled(build, shape):
        assert ("T.parallel" in scheduled.script()) == parallel, name
        _assert_same_results(naive, scheduled)


def _max_pool_stride_1(op, x):
    return op.nn.max_pool2d(x, pool_size=(3, 3), strides=(1, 1), padding=(1, 1), layout="NHWC")


@pytest.mark.parametrize(("build", "inlined"), [(_max_pool, True), (_max_pool_stride_1, False)])
def test_padding_is_inlined_into_strided_pools_only(build, inlined: bool) -> None:
    """A 3x3/2 pool reads each input about twice: no padded copy. A 3x3/1 pool reads it 9
    times, and a border check per read costs more than the copy."""
    for name, naive, scheduled in _naive_and_scheduled(build, (1, 56, 56, 64)):
        assert "pad_temp" in naive.script()
        assert ("pad_temp" not in scheduled.script()) == inlined, name
        _assert_same_results(naive, scheduled)


def _global_mean(op, x):
    return op.mean(x, axis=[1, 2], keepdims=True)


@pytest.mark.parametrize(("build", "shape", "reordered"), [
    (_global_mean, (1, 40, 40, 96), True),  # each channel summed over H and W
    (_max_pool, (1, 14, 14, 64), True),  # to 7x7: too few outer rows to share out
    (_max_pool, (1, 56, 56, 64), False),  # to 28x28: the 3x3 window stays innermost
])  # fmt: skip
def test_reductions_over_outer_dims_read_memory_in_order(build, shape, reordered: bool) -> None:
    """Channels (NHWC's contiguous dim) move inside the reduction loops, the init hoisted out."""
    for name, naive, scheduled in _naive_and_scheduled(build, shape):
        assert ("_init" in scheduled.script()) == reordered, name
        _assert_same_results(naive, scheduled)


def test_a_record_slower_than_the_naive_form_gives_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reduction's record (MetaSchedule never measures the naive form) loses to the function
    as written when that measures faster; the build keeps the naive form, scheduled as is."""
    from tvmforge import _tvm
    from tvmforge.default_schedules import prefer_faster_defaults

    unscheduled = _lowered(lambda op, x: op.nn.softmax(x, axis=-1))
    (name,) = [n for n in _primfuncs(unscheduled) if "softmax" in n]
    scheduled = unscheduled.clone()
    scheduled[name] = _parallel_record(unscheduled[name]).with_attr("test.record", True)

    def timer(func, _args, _target) -> float:
        return 1.0 if func.attrs.get("test.record", False) else 1e-6

    monkeypatch.setattr(_tvm, "seconds_per_call", timer)
    mod, count = prefer_faster_defaults(scheduled, unscheduled, resolve_target("host"), 1)
    assert count == 1 and _scheduled(mod[name])
    assert not mod[name].attrs.get("test.record", False)  # 16x8 rows: serial as written
    assert "T.parallel" not in mod[name].script()
