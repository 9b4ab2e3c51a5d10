"""gunicorn target: `gunicorn service.wsgi:app` (settings from AMLOCAL_* variables)."""
from .app import create_app

app = create_app()
