"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from passport.app import create_app

app = create_app()
