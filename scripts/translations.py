"""Keep the Chinese catalog in step with the source: extract, merge, report untranslated strings.

Usage: python scripts/translations.py   (exit 1 when any string lacks a Chinese translation)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
POT = ROOT / "portal/translations/messages.pot"
PO = ROOT / "portal/translations/zh/LC_MESSAGES/messages.po"
BIN = Path(sys.executable).parent


def main() -> int:
    subprocess.run([BIN / "pybabel", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
                    "--no-location", "--sort-output", "-o", str(POT), "."], cwd=ROOT, check=True,
                   capture_output=True)
    if PO.exists():
        subprocess.run([BIN / "pybabel", "update", "-i", str(POT), "-o", str(PO), "-l", "zh",
                        "--no-fuzzy-matching", "--ignore-obsolete"], cwd=ROOT, check=True, capture_output=True)
    else:
        subprocess.run([BIN / "pybabel", "init", "-i", str(POT), "-o", str(PO), "-l", "zh"], cwd=ROOT,
                       check=True, capture_output=True)
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    missing = [m.id for m in catalog if m.id and not m.string]
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
