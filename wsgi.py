"""The WSGI entry point, for any WSGI server; the Procfile's web process is ``python -m storemon serve``."""

import sys

from storemon.web.app import create_app
from storemon.config import ConfigError, load_settings
from storemon.logs import configure_logging

try:
    settings = load_settings()
except ConfigError as exc:  # one clear line, not a traceback, for a bad setting
    sys.exit(f"bad setting: {exc}")
configure_logging(settings)
app = create_app(settings)
