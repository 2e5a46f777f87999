"""The WSGI entry point, for any WSGI server; the Procfile's web process is ``python -m storemon serve``."""

import sys

from storemon.cli import cli
from storemon.web.app import create_app
from storemon.config import ConfigError, load_settings
from storemon.logs import configure_logging

try:
    settings = load_settings()
except ConfigError as exc:  # one clear line, not a traceback, for a bad setting
    sys.exit(f"bad setting: {exc}")
configure_logging(settings)
app = create_app(settings)
# ``python -m storemon``'s commands as ``flask --app wsgi`` commands too (here, not in the
# app factory, which the command line's ``serve`` imports)
for command in cli.commands.values():
    app.cli.add_command(command)
