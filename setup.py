"""Compatibility shim for tools that still call ``setup.py``.

All metadata lives in ``pyproject.toml`` (PEP 621); setuptools reads it from
there (setuptools >= 77, as ``[build-system]`` requires; ``pip install .``
gets it in its isolated build). Install with ``pip install .`` (or
``make install``), not by running this file.
"""

from setuptools import setup

setup()
