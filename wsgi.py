"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

import gc

from passport.app import create_app

app = create_app()
# Long-lived objects out of the collector's sight (see passport.gunicorn.serve).
gc.freeze()
