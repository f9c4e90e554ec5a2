"""benchmarks/train_cost.py: FLOPs of a training step's graph against closed forms."""

import pytest
import tensorflow as tf

from benchmarks import train_cost

B, H, W, CIN, COUT = 2, 8, 8, 4, 6
CONV = 2 * B * H * W * CIN * COUT * 9  # one 3x3 'same' conv, multiply-add = 2


def _two_tape_step(jit: bool = False):
    """A step shaped like the trainer's: two tapes, only the kernel's gradient used."""
    kernel = tf.Variable(tf.ones([3, 3, CIN, COUT]) * 0.1)
    other = tf.Variable(tf.ones([COUT]))

    def replica(x):
        with tf.GradientTape() as tape_a, tf.GradientTape() as tape_b:
            y = tf.nn.conv2d(x, kernel, 1, "SAME")
            loss_a = tf.reduce_sum(y * y)
            loss_b = tf.reduce_sum(y * other)
        kernel.assign_sub(0.01 * tape_a.gradient(loss_a, kernel))
        other.assign_sub(0.01 * tape_b.gradient(loss_b, other))  # tape_b's conv gradients: dead
        return loss_a

    inner = tf.function(replica, jit_compile=True) if jit else replica
    fn = tf.function(lambda x: inner(x))
    return fn.get_concrete_function(tf.TensorSpec([B, H, W, CIN]))


@pytest.mark.parametrize("jit", [False, True])
def test_conv_flops_forward_and_filter_gradient_only(jit):
    flops = train_cost.graph_flops(_two_tape_step(jit).graph)
    by_type = {}
    for (_, typ), value in flops.items():
        by_type[typ] = by_type.get(typ, 0) + value
    assert by_type["Conv2D"] == CONV
    assert by_type["Conv2DBackpropFilter"] == CONV  # one, not one per tape
    assert "Conv2DBackpropInput" not in by_type  # x is not trained: never computed


def test_live_ops_drop_unused_gradients():
    graph = _two_tape_step().graph
    live = {op.name for op in train_cost.live_ops(graph)}
    filters = [op.name for op in graph.get_operations() if op.type == "Conv2DBackpropFilter"]
    assert len([n for n in filters if n in live]) == 1


@pytest.mark.parametrize("name, part", [
    ("generator_1/decoder_1/conv/Conv2D", "G forward"),
    ("gradient_tape/generator_1/encoder_1/x/Conv2DBackpropFilter", "G backward"),
    ("discriminator_3/resblock_8x8_1/conv1_1/convolution", "D forward"),
    ("gradient_tape/discriminator_1/head/MatMul", "D backward"),
    ("adam_1/update_0_3/Pow", "Adam"),
    ("fused_adam/update_0_3/ResourceApplyAdam", "Adam"),
    ("ema/sub_4", "EMA"),
    ("Mean_2", "losses"),
])
def test_part_of(name, part):
    assert train_cost.part_of(name) == part
    assert train_cost.part_of(name, in_r1=True) == "R1"


@pytest.mark.parametrize("op_type, kind", [
    ("_MklNativeFusedConv2D", "conv forward"), ("Conv2D", "conv forward"),
    ("_MklNativeConv2DBackpropFilter", "conv backward (filter)"),
    ("Conv2DBackpropInput", "conv backward (input)"), ("_MklMatMul", "matmul"),
    ("Mul", "element-wise / other"), ("Sum", "reduction"), ("AvgPoolGrad", "resampling"),
])
def test_kind_of(op_type, kind):
    assert train_cost.kind_of(op_type) == kind


def test_per_image_gflop_amortises_r1():
    from faceres_tf import presets

    cfg = presets.get("cpu_128")  # batch 8, R1 every 16 steps
    flops = {"step": 8e9, "r1": 16e9}
    assert train_cost.per_image_gflop(flops, cfg) == pytest.approx((8 + 16 / 16) / 8)


def test_cpu_256_config_follows_the_widths_rule():
    cfg = train_cost.resolve_config("cpu_256", ["train.batch_size=4"])
    m = cfg.model
    assert (m.resolution, m.enc_ch_base, m.dec_ch_base, m.ch_max, m.num_skips) == (256, 2048, 4096, 256, 4)
    assert cfg.train.batch_size == 4
