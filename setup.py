"""The wheel is the whole app (pyproject.toml has the rest of the package's metadata).

Building it (`make dist`, `pip wheel .`, `pip install .`, `pip install -e .`) first makes what the checkout does
not commit, as `make install` does (portal/assets.py): node_modules/ from package-lock.json, static/vendor/ from
it, the compiled translation catalogues. A wheel then carries templates/, static/ and migrations/ inside the
`portal` package (portal/paths.py finds them there), so an install outside any checkout serves the same pages.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: folders of the checkout a wheel carries inside the package
CARRIED = ("templates", "static", "migrations")


def _assets():
    """portal/assets.py alone: importing the package would import Flask, which the build does not have."""
    spec = importlib.util.spec_from_file_location("payfirst_assets", HERE / "portal" / "assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithAssets(build_py):
    """build_py, after making the front-end files and the catalogues; a wheel's build also copies CARRIED."""

    def run(self) -> None:
        _assets().build(HERE)
        super().run()
        if getattr(self, "editable_mode", False):  # `pip install -e .`: the app runs from the checkout
            return
        target = Path(self.build_lib) / "portal"
        for folder in CARRIED:
            shutil.copytree(HERE / folder, target / folder, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".copied"))


setup(cmdclass={"build_py": BuildWithAssets})
