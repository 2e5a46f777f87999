"""The WSGI entry point: ``waitress-serve --port=$PORT wsgi:app``."""

from storemon.app import create_app

app = create_app()
