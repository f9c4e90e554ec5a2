"""faceres_tf: a TensorFlow 2 / Keras 3 reference implementation of
"Rethinking Deep Face Restoration" (Zhao et al., CVPR 2022)."""

from pathlib import Path

from setuptools import find_packages, setup

_README = Path(__file__).with_name("README.md")

setup(
    name="faceres_tf",
    version="0.1.0",
    description=(
        "TensorFlow 2 / Keras 3 reproduction of Rethinking Deep Face Restoration "
        "(RDFR): networks, training, iPrecision/iRecall, restoration CLI."
    ),
    long_description=_README.read_text(encoding="utf-8") if _README.is_file() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["faceres_tf", "faceres_tf.*", "experiments", "experiments.*"]),
    install_requires=[
        # TensorFlow >= 2.16 ships Keras 3; 2.21 is the current release this was built on.
        "tensorflow>=2.21",
        "keras>=3.15",
        # TensorBoard summaries of the training loop (tf.summary needs it).
        "tensorboard>=2.16",
        "numpy>=1.26",
        "scipy>=1.11",
        "absl-py>=2.1",
        "scikit-image>=0.24",
        "opencv-python-headless>=4.9",
        "pillow>=10.0",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        # Face detection + 5 landmarks (weights inside the wheel, works offline).
        "mtcnn>=1.0",
        # dlib's 128-d face descriptor for iPrecision/iRecall (weights in
        # face-recognition-models; located via importlib, see faceres_tf/metrics).
        "dlib-bin>=19.24",
        "face-recognition-models>=0.3",
    ],
    extras_require={
        # jax[cpu]: tests/test_jax_backend.py runs the models under Keras' JAX
        # backend (skipped when it is missing).
        "test": ["pytest>=8.0", "pytest-timeout>=2.3", "jax[cpu]>=0.4.30"],
    },
    entry_points={
        "console_scripts": [
            "faceres-restore=faceres_tf.restore:run",
            "faceres-evaluate=faceres_tf.evaluate:run",
        ],
    },
)
