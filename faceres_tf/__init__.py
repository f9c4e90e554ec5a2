"""faceres_tf: TensorFlow 2 / Keras 3 reference implementation of
"Rethinking Deep Face Restoration" (Zhao et al., CVPR 2022).

Public entry points::

    import faceres_tf
    cfg = faceres_tf.presets.get("paper_512")
    G = faceres_tf.build_generator(cfg)       # {"image", "noise_seed"} -> image
    D = faceres_tf.build_discriminator(cfg)   # image -> logit
    G = faceres_tf.load_pretrained()          # the bundled 128 px model
"""

from faceres_tf import presets
from faceres_tf.config import Config, override
from faceres_tf.models import build_discriminator, build_generator
from faceres_tf.pretrained import load_pretrained

__version__ = "0.1.0"

__all__ = ["Config", "build_discriminator", "build_generator", "load_pretrained", "override",
           "presets"]
