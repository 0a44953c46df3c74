"""The WSGI entry point for gunicorn: `gunicorn -c python:registry.gunicorn_conf registry.wsgi:app`."""

from . import create_app

app = create_app()
