"""Export a trained generator as a TFLite model (:func:`faceres_tf.export.export_run` writes both formats).

TFLite (``export_tflite``): a float32 model (no quantisation), builtin ops
only, batch size fixed (default 1). Signature ``serving_default``: inputs
``image`` uint8 (B, R, R, 3) RGB 0-255 and one ``noise_<id>`` float32
(B, H, W, 1) per noise layer of the decoder (:func:`noise_layout` lists them);
output ``image`` uint8 (B, R, R, 3); a model with the fidelity knob has one more
input, ``fidelity`` float32 (B,) in [0, 1]. The noise is an explicit input because
TF's stateless random ops (which draw the seeded noise) have no TFLite builtin
and the Flex delegate is not available everywhere. Feed N(0, 1) samples from
any RNG for a random restoration, zeros for the deterministic one, or
:func:`noise_for_seeds` to reproduce the SavedModel's output for given seeds
exactly. [ours]
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from faceres_tf.export_common import is_tflite_file, prepare_out, resolution_of
from faceres_tf.image_io import float_to_uint8, uint8_to_float
from faceres_tf.layers import per_sample_noise
from faceres_tf.models import Generator, inference_generator, noise_input_shapes


def _as_generator(generator):
    if not isinstance(generator, Generator):
        raise TypeError(
            f"expected a faceres_tf Generator (build_generator / load_generator), got {type(generator).__name__}"
        )
    return generator


def noise_layout(generator) -> dict:
    """``{"noise_<id>": (H, W)}`` for every noise layer of ``generator``.

    These are the extra inputs of the TFLite model, each float32 (B, H, W, 1).
    """
    shapes = noise_input_shapes(_as_generator(generator).model_config)
    return {k: (int(h), int(w)) for k, (h, w, _) in shapes.items()}


def noise_for_seeds(generator, seeds) -> dict:
    """The noise maps the Keras/SavedModel generator draws for ``seeds``.

    Feed them to the TFLite model to reproduce the SavedModel's output for the
    same seeds (negative seed -> zeros). Returns ``{"noise_<id>": float32 (B,
    H, W, 1)}``.
    """
    seeds = tf.constant(seeds, tf.int32)
    return {
        name: per_sample_noise(seeds, h, w, int(name.split("_")[1])).numpy()
        for name, (h, w) in noise_layout(generator).items()
    }


def tflite_bytes(generator, batch_size: int = 1) -> bytes:
    """Convert ``generator`` to a float32 TFLite flatbuffer (see module doc).

    The converted graph is the generator's twin with explicit noise inputs
    (``Generator(..., noise_inputs=True)``, same weights); the TFLite
    converter folds its constants itself.
    """
    twin = inference_generator(_as_generator(generator), "fp32", noise_inputs=True, fold=False)
    r = resolution_of(generator)
    layout = noise_layout(generator)

    def restore(image, noise):
        y = twin({"image": uint8_to_float(image), **noise}, training=False)
        return {"image": float_to_uint8(y)}

    specs = {"image": tf.TensorSpec([batch_size, r, r, 3], tf.uint8, name="image")}
    specs.update({k: tf.TensorSpec([batch_size, h, w, 1], tf.float32, name=k) for k, (h, w) in layout.items()})
    if twin.model_config.fidelity_input:  # the skip strength w (see faceres_tf.export)
        specs["fidelity"] = tf.TensorSpec([batch_size], tf.float32, name="fidelity")
    traced = tf.function(restore).get_concrete_function(
        specs["image"], {k: v for k, v in specs.items() if k != "image"}
    )
    # Freeze the weights into constants ourselves: the converter's own route
    # (through a temporary SavedModel) leaves Keras 3 weights as uninitialised
    # resource variables in TF 2.21.
    frozen = convert_variables_to_constants_v2(traced)
    order = [t.name.split(":")[0] for t in frozen.inputs]

    def serve(**inputs):
        out = frozen(*[inputs[name] for name in order])
        return {"image": out[0] if isinstance(out, (list, tuple)) else out}

    holder = tf.Module()  # variable-free; gives the TFLite model a named signature
    holder.serve = tf.function(tf.autograph.experimental.do_not_convert(serve))
    concrete = holder.serve.get_concrete_function(**specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def export_tflite(generator, out_path: str | os.PathLike, overwrite: bool = False,
                  batch_size: int = 1) -> str:
    """Write a float32 ``.tflite`` file (signature in the module doc)."""
    out_path = Path(out_path)
    prepare_out(out_path, overwrite, is_tflite_file, "a .tflite model")
    data = tflite_bytes(generator, batch_size=batch_size)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    return str(out_path)
