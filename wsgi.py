"""The WSGI entry point: ``waitress-serve --port=$PORT wsgi:app``."""

import sys

from storemon.app import create_app
from storemon.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # one clear line, not a traceback, for a bad setting
    sys.exit(f"bad setting: {exc}")
