"""Reading the inputs (polls, business hours, timezones, special hours, holidays, the store
directory) into arrays, every row checked; no SQL.

``text`` reads CSV text and JSON arrays into rows of fields, with line numbers and limits;
``schemas`` knows the sources' columns and checks, and makes arrays of the rows.
"""

from .schemas import (CONTROL_CHARACTER, DATES_AHEAD, STORE_DIRECTORY, EARLIEST_DATE, HOLIDAYS, HOURS, NO_DATE,
                      POLLS, SOURCE_NAMES, SPECIAL_HOURS, TIMEZONES, DatedBatch, StoreDirectoryBatch, HoursBatch,
                      PollBatch, StoreKeys, TimezoneBatch, find_sources, parse_local_date, parse_local_time,
                      group_label, read_store_directory, read_holidays, read_hours, read_polls, read_special_hours,
                      read_timezones, store_id_problem, store_ids_in)
from .text import CsvSource, JsonSource, Rejected, RejectedRows, Source, SourceError, SourceTooLarge

__all__ = ["CONTROL_CHARACTER", "DATES_AHEAD", "STORE_DIRECTORY", "EARLIEST_DATE", "HOLIDAYS", "HOURS", "NO_DATE",
           "POLLS", "SOURCE_NAMES", "SPECIAL_HOURS", "TIMEZONES", "DatedBatch", "StoreDirectoryBatch", "HoursBatch",
           "PollBatch", "StoreKeys", "TimezoneBatch", "find_sources", "parse_local_date", "parse_local_time",
           "group_label", "read_store_directory", "read_holidays", "read_hours", "read_polls", "read_special_hours",
           "read_timezones", "store_id_problem", "store_ids_in", "CsvSource", "JsonSource", "Rejected",
           "RejectedRows", "Source", "SourceError", "SourceTooLarge"]
