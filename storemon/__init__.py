"""storemon: business-hours uptime reports for polled stores.

Kept import-light on purpose: the RQ worker imports ``storemon.reports.jobs`` and must not
pull in Flask through this module.
"""

__version__ = "0.1.0"
