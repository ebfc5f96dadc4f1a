"""What a working install needs beside the code (portal/assets.py): a half-built one is refused at start-up with
what is missing, and the catalogues it compiles are the ones the pages use."""
from __future__ import annotations

import gettext
import shutil
from pathlib import Path

import pytest

from portal import assets, create_app, paths


def test_an_install_without_its_front_end_files_or_catalogues_is_refused_saying_what_is_missing(tmp_path,
                                                                                                    monkeypatch):
    static, package = tmp_path / "static", tmp_path / "portal"
    (static / "vendor").mkdir(parents=True)
    (static / "vendor" / "weui.min.css").write_text("/* weui */")
    assert assets.missing(static, package) == ["static/vendor/htmx.min.js", "static/vendor/echarts.min.js",
                                               "portal/translations/zh/LC_MESSAGES/messages.mo"]
    monkeypatch.setattr(paths, "STATIC", static)
    monkeypatch.setattr(paths, "PACKAGE", package)
    with pytest.raises(RuntimeError, match=r"not built: static/vendor/htmx\.min\.js, static/vendor/echarts\.min\.js, "
                                           r"portal/translations/zh/LC_MESSAGES/messages\.mo missing.*make install"):
        create_app()
    monkeypatch.undo()  # the checkout's, built by `make install`
    assert assets.missing(paths.STATIC, paths.PACKAGE) == []
    assert create_app().static_folder == str(paths.ROOT / "static")


def test_the_catalogue_compiled_without_pybabel_translates_as_the_pages_do(tmp_path):
    folder = assets.catalogue(tmp_path, "zh")
    folder.mkdir(parents=True)
    shutil.copy(assets.catalogue(paths.PACKAGE, "zh") / "messages.po", folder / "messages.po")
    assets.compile_translations(tmp_path)
    with open(folder / "messages.mo", "rb") as mo:
        zh = gettext.GNUTranslations(mo)
    assert zh.gettext("Log in") == "登录"
    assert zh.gettext("Supply off") != "Supply off"
    assert (folder / "messages.mo").read_bytes() == (assets.catalogue(paths.PACKAGE, "zh") / "messages.mo").read_bytes()


def test_the_front_end_files_come_from_the_npm_packages_package_lock_pins(tmp_path):
    for name, source in assets.VENDOR.items():
        (tmp_path / "node_modules" / Path(source).parent).mkdir(parents=True, exist_ok=True)
        (tmp_path / "node_modules" / source).write_text(f"/* {name} */")
    assets.copy_vendor(tmp_path)
    assert {p.name: p.read_text() for p in (tmp_path / "static" / "vendor").iterdir()} == {
        name: f"/* {name} */" for name in assets.VENDOR}
