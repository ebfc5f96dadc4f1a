"""What a working install needs beside the Python code, made from the checkout: the front-end files from npm
(package-lock.json) and the compiled translation catalogues.

Both are made, never committed: `make install` makes them in a checkout, and the wheel's build (setup.py, `make
dist`) makes them and carries them. The app refuses to start without them (`check`): English pages without htmx
would look like a working site and are not one.

Run as a script (`python portal/assets.py vendor|translations|all [ROOT]`), it needs nothing but the standard
library and Babel, as the wheel's build does; the Makefile calls it so too.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

#: the files under static/vendor/ and where each comes from in node_modules/ (package.json pins the packages)
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "weui.min.css": "weui/dist/style/weui.min.css",
    "echarts.min.js": "echarts/dist/echarts.min.js",
}
#: the catalogues, under portal/translations/: each language's messages.po compiles to messages.mo beside it
LANGUAGES = ("zh",)


def catalogue(package: Path, language: str) -> Path:
    return package / "translations" / language / "LC_MESSAGES"


def missing(static: Path, package: Path) -> list[str]:
    """What a built install lacks: front-end files under `static`, compiled catalogues under `package`."""
    out = [f"static/vendor/{name}" for name in VENDOR if not (static / "vendor" / name).is_file()]
    return out + [f"portal/translations/{lang}/LC_MESSAGES/messages.mo" for lang in LANGUAGES
                  if not (catalogue(package, lang) / "messages.mo").is_file()]


def check(static: Path, package: Path) -> None:
    """Refuse to run a half-built install, saying what is missing and how to make it."""
    lacking = missing(static, package)
    if lacking:
        raise RuntimeError(
            "PayFirst is not built: " + ", ".join(lacking) + " missing. In a checkout run `make install`; "
            "to deploy, install the wheel `make dist` builds (it carries them). See docs/deploy.md.")


def npm_ci(root: Path) -> None:
    """node_modules/ as package-lock.json pins it, unless it already is (npm writes its own lock copy)."""
    lock, installed = root / "package-lock.json", root / "node_modules" / ".package-lock.json"
    if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("building PayFirst needs npm (Node.js) for its front-end files: apt-get install npm")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=root, check=True)


def copy_vendor(root: Path) -> None:
    """static/vendor/ from node_modules/."""
    target = root / "static" / "vendor"
    target.mkdir(parents=True, exist_ok=True)
    for name, source in VENDOR.items():
        shutil.copyfile(root / "node_modules" / source, target / name)


def compile_translations(package: Path) -> None:
    """Each language's messages.po to messages.mo (what `pybabel compile` does), fuzzy entries left out."""
    # only when compiling: the wheel's build has Babel, the running app never compiles
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for lang in LANGUAGES:
        folder = catalogue(package, lang)
        with open(folder / "messages.po", "rb") as po:
            messages = read_po(po, locale=lang)
        with open(folder / "messages.mo", "wb") as mo:
            write_mo(mo, messages, use_fuzzy=False)


def build(root: Path, what: str = "all") -> None:
    """Make what a checkout at `root` lacks to run: `vendor`, `translations` or `all`."""
    if what in ("vendor", "all"):
        npm_ci(root)
        copy_vendor(root)
    if what in ("translations", "all"):
        compile_translations(root / "portal")


if __name__ == "__main__":
    build(Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent,
          sys.argv[1] if len(sys.argv) > 1 else "all")
