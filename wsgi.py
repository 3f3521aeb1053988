"""WSGI entry point: `gunicorn wsgi:app` (also `flask --app wsgi ...`)."""

from bot.app import create_app
from bot.core.settings import exit_on_config_error

# Exit code 4 is gunicorn's "app failed to load": the master stops instead of booting new
# workers that would fail the same way forever.
app = exit_on_config_error(create_app, exit_code=4)
