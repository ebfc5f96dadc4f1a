"""The floor of the notify figure: a bare Flask route that only verifies an Alipay RSA2 signature.

    gunicorn -w 2 -k sync bench.floor_app:app   (ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY_FILE, ALIPAY_PUBLIC_KEY_FILE)

Same SDK call as portal.payments.providers.alipay.api (python-alipay-sdk `AliPay.verify`, sign_type RSA2, the
signed content without `sign` / `sign_type` and without empty values); no database, no Redis,
no outbox. Answers `success`, or HTTP 400 `fail` when the signature does not verify.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl

from alipay import AliPay
from flask import Flask, request

app = Flask(__name__)
_sdk = AliPay(appid=os.environ["ALIPAY_APP_ID"],
              app_private_key_string=Path(os.environ["ALIPAY_APP_PRIVATE_KEY_FILE"]).read_text(),
              alipay_public_key_string=Path(os.environ["ALIPAY_PUBLIC_KEY_FILE"]).read_text(),
              sign_type="RSA2")


@app.post("/pay/alipay/notify")
def notify():
    fields = dict(parse_qsl(request.get_data(cache=False).decode("ascii"), keep_blank_values=True))
    signature = fields.pop("sign", "")
    fields.pop("sign_type", None)
    data = {k: v for k, v in fields.items() if v != ""}
    ok = bool(signature) and _sdk.verify(data, signature)
    return ("success" if ok else "fail"), (200 if ok else 400), {"Content-Type": "text/plain; charset=utf-8"}
