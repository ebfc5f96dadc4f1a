"""Where the app's files are.

In a checkout the templates, static files, migrations and the demo's instance folder sit beside the packages
(the layout of the design card). Installed from the wheel (setup.py), templates, static files and migrations
are inside the package, and the instance folder is the working directory's `instance/`.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: installed from the wheel: the package carries its templates, static files and migrations
BUNDLED = (PACKAGE / "templates").is_dir()
ROOT = PACKAGE if BUNDLED else PACKAGE.parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
MIGRATIONS = ROOT / "migrations"
INSTANCE = Path.cwd() / "instance" if BUNDLED else PACKAGE.parent / "instance"
