"""The payment platforms' blueprint: no session, no CSRF on notifies, only signatures."""
from flask import Blueprint

bp = Blueprint("pay", __name__, url_prefix="/pay")
