"""The computation core: polls and weekly business hours in, per-store seconds out.

Pure NumPy and the standard library. It knows nothing of Flask, RQ or SQL, so it is
fast to test and the same code serves the CLI, the worker and the benchmarks.
"""

from .polls import DAY_US, HOUR_US, LOOKBACK_US, WEEK_US
from .uptime import Progress, ReportInput, Uptime, compute_uptime
from .csvout import to_csv

__all__ = ["HOUR_US", "DAY_US", "WEEK_US", "LOOKBACK_US", "Progress", "ReportInput", "Uptime", "compute_uptime", "to_csv"]
