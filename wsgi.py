"""The web process (`gunicorn wsgi:app`) and the command line (`flask --app wsgi ...`).

The one place the portal and the worker meet: the app is the portal's, and the worker adds its commands
(`worker`, `cron`, `poll`, `simulator`, `demo run`) to its command line.
"""
from dotenv import load_dotenv

load_dotenv()

from portal import create_app  # noqa: E402  (after .env is loaded: create_app reads the environment)
from worker import cli as worker_cli  # noqa: E402

app = create_app()
worker_cli.init_app(app)
