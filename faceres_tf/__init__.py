"""faceres_tf: TensorFlow 2 / Keras 3 reference implementation of
"Rethinking Deep Face Restoration" (Zhao et al., CVPR 2022).

Public entry points::

    import faceres_tf
    cfg = faceres_tf.presets.get("paper_512")
    G = faceres_tf.build_generator(cfg)       # {"image", "noise_seed"} -> image
    D = faceres_tf.build_discriminator(cfg)   # image -> logit
    G = faceres_tf.load_pretrained()          # the bundled default model (Keras)
    restored, faces = faceres_tf.restore_image(rgb)   # uint8 photo in, uint8 photo out
    out = faceres_tf.restore_faces(crops)             # uint8 aligned faces in and out

``import faceres_tf`` does not import TensorFlow; the functions above import
it quietly on first use (no C++ start-up lines).
"""

from faceres_tf import presets
from faceres_tf.config import Config, override
from faceres_tf.pretrained import load_pretrained

__version__ = "0.1.0"


def __getattr__(name):
    # The networks import TensorFlow; loading them on first use keeps
    # `import faceres_tf.errors` (CLI start-up, --help) free of TensorFlow.
    if name in ("build_generator", "build_discriminator"):
        from faceres_tf import models

        return getattr(models, name)
    if name in ("restore_image", "restore_faces"):
        from faceres_tf import api

        return getattr(api, name)
    raise AttributeError(f"module 'faceres_tf' has no attribute {name!r}")


__all__ = ["Config", "build_discriminator", "build_generator", "load_pretrained", "override",
           "presets", "restore_faces", "restore_image"]
