"""Payment platform callbacks: no session, no CSRF, only signatures (routes arrive with payments)."""
from flask import Blueprint

bp = Blueprint("pay", __name__, url_prefix="/pay")
