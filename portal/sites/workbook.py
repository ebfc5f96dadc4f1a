"""The import workbook written back: the template a property office fills in, and a site exported in the same shape.

Both are the SPEC §4 sheets with the column names in row 1 (what the import reads), a note on each header cell
and a `notes` sheet that explains every column, in Chinese and English (the file is passed around offices and
opened without PayFirst). The import reads only its own sheets and columns, so the notes never get in its way.
Every text cell goes through `portal.sheets.append_xlsx_row`: a name starting with `=` stays text.

An export holds what the import would write again, so importing it back changes nothing: the site's gateways,
shops, meters and flat tariffs, each flat tariff at its latest price (the one the import compares). Time-of-use
and tiered tariffs are edited on the tariff page and left out (their meters still name them). The opening
balance column is left empty: an opening balance is posted once, when a site moves in, and the money a shop holds
lives in its ledger, not in a spreadsheet; an export imported into another site must not create money.
"""
from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.models import Account, Gateway, Meter, Site, Tariff, TariffKind
from portal.sheets import append_xlsx_row
from portal.sites.sheets import SHEETS

#: the columns written, in SPEC §4's order: the import's own, with the optional opening balance
COLUMNS = {name: [*columns, "opening_balance"] if name == "accounts" else list(columns)
           for name, columns in SHEETS.items()}

#: what each column holds, in Chinese and English (a header's note, and the notes sheet)
NOTES = {
    ("gateways", "code"): "网关编号（字母、数字、_ . -，最多 32 个）"
                          " / Gateway code (letters, digits, _ . -; at most 32)",
    ("gateways", "name"): "名称 / Name",
    ("gateways", "host"): "IP 地址或主机名 / IP address or host name",
    ("gateways", "port"): "端口（1–65535，通常 502）/ Port (1–65535, usually 502)",
    ("gateways", "protocol"): "modbus-tcp 或 rtu-over-tcp（串口服务器）/ modbus-tcp or rtu-over-tcp (serial server)",
    ("accounts", "code"): "商户编号（户号）/ Shop account code",
    ("accounts", "name"): "商铺名称 / Shop name",
    ("accounts", "tenant"): "租户姓名 / Tenant's name",
    ("accounts", "phone"): "租户手机（以文本填写）/ Tenant's phone (as text)",
    ("accounts", "area_m2"): "面积（平方米，最多 2 位小数，可空）/ Floor area in m² (up to 2 decimals; may be empty)",
    ("accounts", "opening_balance"): "期初余额（元，最多 2 位小数，可空）：只入账一次，用于从其他系统迁入；导出时留空"
                                     " / Opening balance in yuan (up to 2 decimals; may be empty): posted once, for "
                                     "sites moving from another system; left empty in an export",
    ("meters", "code"): "表号 / Meter code",
    ("meters", "name"): "名称 / Name",
    ("meters", "kind"): "electric（电）或 water（水）/ electric or water",
    ("meters", "profile"): "表型号：payfirst-prepaid-v1、payfirst-water-v1、acrel-ddsy1352、chint-dtsu666"
                           " / Meter profile (register map)",
    ("meters", "gateway"): "所在网关编号（本文件或已有）/ Its gateway's code (in this file or the site)",
    ("meters", "unit_id"): "通讯地址 1–247，同一网关内不重复 / Modbus unit id 1–247, unique on its gateway",
    ("meters", "account"): "所属商户编号；公共区域表留空 / Its shop's account code; empty for a common-area meter",
    ("meters", "control_mode"): "platform（平台计费）或 meter（表内计费）"
                                " / platform or meter (the meter keeps the money)",
    ("meters", "tariff"): "电价编号；留空用本项目默认电价；表内计费只能用单一电价"
                          " / Tariff code; empty: the site's default; a meter-mode meter needs a flat tariff",
    ("meters", "power_limit_kw"): "功率上限（千瓦，可空）/ Power limit in kW (may be empty)",
    ("tariffs", "code"): "电价编号 / Tariff code",
    ("tariffs", "name"): "名称 / Name",
    ("tariffs", "unit_price"): "单价（元/千瓦时或元/立方米，最多 4 位小数）；分时、阶梯电价在员工页面编辑"
                               " / Price in yuan per kWh or m³ (up to 4 decimals); time-of-use and tiered tariffs "
                               "are edited on the staff pages",
}

#: the notes sheet's opening lines
ABOUT = [
    "先付 PayFirst 项目导入文件 / PayFirst site import file",
    "第一行是列名，请勿修改；每行一条记录；可以增加其他列和工作表，导入时忽略。"
    " / Row 1 holds the column names: keep them. One record per row; extra columns and sheets are ignored.",
    "导入是全部或全不：任何一处错误都会按工作表、行、列列出，什么也不写入。"
    " / An import is all or nothing: every error is listed by sheet, row and column, and nothing is written.",
    "按编号匹配：同一文件再次导入不会改变任何内容。"
    " / Rows are matched by code: importing the same file again changes nothing.",
    "tariffs 工作表可以没有。/ The tariffs sheet is optional.",
]

#: the template's example rows, one per sheet, valid together
EXAMPLE = {
    "gateways": ["GW01", "一号楼一层 / Building 1 floor 1", "192.168.1.20", 502, "modbus-tcp"],
    "accounts": ["A101", "101 号铺 / Shop 101", "张三", "13900000001", Decimal("35.5"), None],
    "meters": ["E101", "101 号铺电表 / Shop 101 electricity", "electric", "payfirst-prepaid-v1", "GW01", 1, "A101",
               "platform", "FLAT", Decimal("10")],
    "tariffs": ["FLAT", "商业电价 / Commercial", Decimal("0.95")],
}


def template_workbook() -> bytes:
    """The template: each sheet's column names, one example row, and the notes."""
    return _write({name: [row] for name, row in EXAMPLE.items()})


def export_workbook(session: Session, site: Site) -> bytes:
    """The site as an import file that re-imports with no change (see the module's docstring)."""
    gateways = session.execute(select(Gateway).where(Gateway.site_id == site.id).order_by(Gateway.code)).scalars()
    accounts = session.execute(select(Account).where(Account.site_id == site.id).order_by(Account.code)).scalars()
    tariffs = session.execute(select(Tariff).options(selectinload(Tariff.versions))
                              .where(Tariff.site_id == site.id).order_by(Tariff.code)).scalars().all()
    codes = {
        "gateway": dict(session.execute(select(Gateway.id, Gateway.code).where(Gateway.site_id == site.id)).all()),
        "account": dict(session.execute(select(Account.id, Account.code).where(Account.site_id == site.id)).all()),
        "tariff": {t.id: t.code for t in tariffs},
    }
    meters = session.execute(select(Meter).where(Meter.site_id == site.id).order_by(Meter.code)).scalars()
    return _write({
        "gateways": ([g.code, g.name, g.host, g.port, g.protocol.value] for g in gateways),
        "accounts": ([a.code, a.name, a.tenant_name, a.phone, a.area_m2, None] for a in accounts),
        "meters": ([m.code, m.name, m.kind.value, m.profile, codes["gateway"][m.gateway_id], m.unit_id,
                    codes["account"].get(m.account_id), m.control_mode.value, codes["tariff"].get(m.tariff_id),
                    Decimal(m.power_limit_w).scaleb(-3) if m.power_limit_w else None] for m in meters),
        # the import compares a tariff's latest version (versions[-1]): the same one is written
        "tariffs": ([t.code, t.name, Decimal(t.versions[-1].unit_price_e4).scaleb(-4)] for t in tariffs
                    if t.kind == TariffKind.FLAT and t.versions and t.versions[-1].unit_price_e4 is not None),
    })


def _write(rows_by_sheet: dict) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for name, columns in COLUMNS.items():
        ws = wb.create_sheet(name)
        append_xlsx_row(ws, columns)
        for cell, column in zip(ws[1], columns):
            cell.font = bold
            cell.comment = Comment(NOTES[(name, column)], "PayFirst", width=320, height=110)
        for row in rows_by_sheet.get(name, ()):
            append_xlsx_row(ws, row)
        ws.freeze_panes = "A2"
    notes = wb.create_sheet("notes")
    for line in ABOUT:
        append_xlsx_row(notes, [line])
    append_xlsx_row(notes, [])
    append_xlsx_row(notes, ["sheet", "column", "说明 / what it holds"])
    for (sheet, column), text in NOTES.items():
        append_xlsx_row(notes, [sheet, column, text])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
