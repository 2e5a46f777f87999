"""The HTTP API's contract as an OpenAPI 3.1 document (GET /openapi.json), and its human page (GET /docs).

The document is written here by hand, beside the code it describes, and kept true by a
test that runs schemathesis against the live web process and worker: every answer the
service gives must be one this document allows. Patterns are as tight as the checks the
service makes, so that what the document calls valid the service accepts.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

from .. import __version__
from ..alerts.endpoints import MAX_URL, URL_PATTERN
from ..core.incidents import KINDS
from ..core.slo import MAX_OBJECTIVE, MIN_OBJECTIVE
from ..core.windows import COLUMNS, EXTENDED_COLUMNS
from ..reports.formats import FORMATS
from ..reports.options import COLUMN_SETS, STANDARD_COLUMNS

openapi = Blueprint("openapi", __name__)

# An instant as the API writes it, and one as generated examples of valid input take it: any
# ISO 8601 instant is read, but only 1971-9998 is allowed (days 1-28 keep every month valid).
INSTANT = {"type": "string", "examples": ["2023-01-25T12:00:00Z"]}
AS_OF_INPUT = {"type": "string", "examples": ["2023-01-25T12:00:00Z"],
               "pattern": r"^(197[1-9]|19[89][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                          r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"}
REPORT_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "examples": ["Zx3k9aPq2mW8rT1vB6nY4cD7fG0hJ5sL"]}
STORE_ID = {"type": "string", "minLength": 1, "examples": ["8419537941919820732"]}
STATUS = {"type": "string", "enum": ["Pending", "Running", "Complete", "Failed"]}

# Ingestion bodies: a CSV text with its header, or a JSON array of objects keyed like the header.
# The CSV patterns describe a plain subset; the JSON schemas say what the service accepts:
# fields are trimmed, a store id holds no control character and does not begin with a
# character a spreadsheet reads as a formula, and a whole number may stand for a text.
_ID = "[a-z0-9]{1,12}"
_DAY = "(0[1-9]|1[0-9]|2[0-8])"
_CLOCK = "([01][0-9]|2[0-3]):[0-5][0-9]"
_TEXT = r"[^\x00-\x1f\x7f-\x9f]"  # any character but a control one
_TRIMMED = r"[\s\x1c-\x1f\x85]"  # what trimming a field takes off its ends (Python's whitespace)
_JSON_ID = {"type": ["string", "integer"], "minimum": 0,  # 1 to 255 characters once trimmed:
            "pattern": rf"^{_TRIMMED}*[^=+\-@\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{{0,253}}"
                       rf"[^\s\x00-\x1f\x7f-\x9f])?{_TRIMMED}*$"}
_JSON_TIME = {"type": "string", "pattern": r"^ *([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])? *$"}
# a date's times: both given, or both empty, null or absent (closed that whole date)
_JSON_NO_TIME = {"type": ["string", "null"], "pattern": "^ *$"}
_JSON_DATED_TIMES = {"anyOf": [
    {"required": ["start_time_local", "end_time_local"],
     "properties": {"start_time_local": _JSON_TIME, "end_time_local": _JSON_TIME}},
    {"properties": {"start_time_local": _JSON_NO_TIME, "end_time_local": _JSON_NO_TIME}}]}
_JSON_DATE = {"type": "string", "pattern": r"^ *2023-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]) *$",
              "description": "A local calendar date, YYYY-MM-DD, from 1971 to two years past the newest poll"}
# a group label as the service reads it: key:value, spaces around either part trimmed
_LABEL_VALUE = r"[^;\s\x00-\x1f\x7f-\x9f]([^;\x00-\x1f\x7f-\x9f]{0,98}[^;\s\x00-\x1f\x7f-\x9f])?"
_LABEL = rf"[A-Za-z0-9_.-]{{1,40}} *: *{_LABEL_VALUE}"
GROUP = {"type": "string", "pattern": rf"^ *{_LABEL} *$", "examples": ["region:west"],
         "description": "A group label of the store directory, key:value"}
_CSV_DATE = "2023-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
INGESTED = {
    "polls": ("store_id,status,timestamp_utc", f"{_ID},(active|inactive),2023-01-{_DAY} {_CLOCK}:[0-5][0-9] UTC",
              {"store_id": _JSON_ID,
               "status": {"type": "string", "pattern": "^\\s*([Aa][Cc][Tt]|[Ii][Nn][Aa][Cc][Tt])[Ii][Vv][Ee]\\s*$",
                          "description": "active or inactive (any case)"},
               "timestamp_utc": {"type": "string", "pattern": rf"^2023-01-{_DAY}[ T]{_CLOCK}:[0-5][0-9]"
                                                              rf"(\.[0-9]{{1,6}})?( UTC|Z|\+00:00)$"}}),
    "business_hours": ("store_id,day,start_time_local,end_time_local", f"{_ID},[0-6],{_CLOCK}:00,{_CLOCK}:00",
                       {"store_id": _JSON_ID,
                        "day": {"type": ["integer", "string"], "minimum": 0, "maximum": 6,
                                "pattern": "^ *0*[0-6] *$", "description": "0 = Monday to 6 = Sunday"},
                        "start_time_local": _JSON_TIME, "end_time_local": _JSON_TIME,
                        "effective_date": {"anyOf": [_JSON_DATE, _JSON_NO_TIME]}}),
    "special_hours": ("store_id,date,start_time_local,end_time_local",
                      f"{_ID},{_CSV_DATE},({_CLOCK}:00,{_CLOCK}:00|,)",
                      {"store_id": _JSON_ID, "date": _JSON_DATE, "start_time_local": {}, "end_time_local": {}}),
    "holidays": ("date,start_time_local,end_time_local,name", f"{_CSV_DATE},({_CLOCK}:00,{_CLOCK}:00|,),[a-z ]{{0,20}}",
                 {"date": _JSON_DATE, "start_time_local": {}, "end_time_local": {},
                  "name": {"type": ["string", "integer", "null"], "maxLength": 200,
                           "pattern": f"^{_TEXT}*$"}}),
    "stores": ("store_id,name,groups", f"{_ID},[A-Za-z ]{{0,20}},(region:(west|east)(;brand:[a-z]{{1,8}})?)?",
               {"store_id": _JSON_ID,
                "name": {"type": ["string", "integer", "null"], "maxLength": 200, "pattern": f"^{_TEXT}*$",
                         "description": "The store's display name (empty: none)"},
                "groups": {"type": ["string", "null"], "description": "Group labels key:value joined by ';' "
                                                                      "(at most 20), e.g. region:west;brand:acme",
                           "pattern": rf"^ *({_LABEL}( *; *{_LABEL}){{0,19}})? *$"}}),
    "timezones": ("store_id,timezone_str", f"{_ID},(America/Chicago|Asia/Kolkata|Europe/Berlin|)",
                  {"store_id": _JSON_ID,
                   # an IANA name; one the service does not know is stored, listed in the answer's
                   # unknown_timezones, and read as America/Chicago
                   "timezone_str": {"type": ["string", "integer", "null"], "maxLength": 255,
                                    "pattern": f"^{_TEXT}*$"},
                   "effective_date": {"anyOf": [_JSON_DATE, _JSON_NO_TIME]}}),
}

ERROR = {"type": "object", "required": ["error", "status"], "properties": {
    "error": {"type": "string", "description": "What is wrong, in words"},
    "status": {"type": "integer", "description": "The HTTP status, repeated"},
    "rejected": {"type": "array", "description": "Ingestion only: the first bad rows",
                 "items": {"$ref": "#/components/schemas/RejectedRow"}},
    "unknown_store_ids": {"type": "array", "items": {"type": "string"},
                          "description": "Ingestion with create=false, and retiring: the first 100 ids naming no store"},
}}

_ERRORS = {
    400: "The request is malformed; the error names the problem",
    401: "A valid token is required (or the one sent is unknown or revoked)",
    403: "The token lacks the scope this needs",
    404: "Not found",
    413: "The request body is too large",
    415: "The body's Content-Type or Content-Encoding is not one this endpoint reads",
    429: "Rate limit exceeded; Retry-After says when to try again",
    503: "The database or Redis is unavailable, or the process is busy with the same work for others; "
         "Retry-After may say when to try again",
}


def _errors(*codes: int) -> dict:
    return {str(code): {"description": _ERRORS[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for code in codes}


def _json(schema: dict, description: str, **extra) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


DATE_QUERY = {"type": "string", "pattern": r"^(2023-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]))?$",
              "description": "A local date, YYYY-MM-DD (empty: none)"}
AS_OF_QUERY = _query("as_of", AS_OF_INPUT, "The report's reference instant, ISO 8601 (UTC when no offset is "
                                           "given); default: the latest stored poll")
# a store page's as_of may also be empty (the console's form sends it so): the latest poll
AS_OF_OR_EMPTY = {**AS_OF_QUERY, "schema": {"anyOf": [AS_OF_INPUT, {"const": ""}]}}
# Report endpoints take a token when REQUIRE_REPORT_TOKEN is on; the embedded demo runs without.
REPORT_SECURITY = [{}, {"bearer": []}]
_WINDOW = "(1h|([1-9]|[1-8][0-9]|90)d)"
WINDOWS_CHOICE = {"type": "string", "pattern": f"^ *{_WINDOW} *(, *{_WINDOW} *)*$", "examples": ["1h,1d,7d,30d"],
                  "description": "1h, 1d and 7d (the standard windows, always reported) and any of whole days "
                                 "up to 90d, joined by commas"}
WEBHOOK_ID = {"name": "webhook_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0},
              "description": "An endpoint's id (one never made is a 404)"}
# what POST /webhooks accepts: an http(s) address (a plain subset), a secret of a 24- or 32-byte key
_WEBHOOK_URL = {"type": "string", "maxLength": MAX_URL, "pattern": URL_PATTERN,
                "examples": ["https://hooks.example.com/storemon"]}
_B64 = "[A-Za-z0-9+/]"  # (24 to 64 bytes: 8 to 20 groups of 4 characters and a rest, or 21 and one byte)
_SECRET = {"type": "string", "pattern": rf"^whsec_(({_B64}{{4}}){{8,20}}({_B64}{{2}}==|{_B64}{{3}}=)?"
                                        rf"|({_B64}{{4}}){{21}}({_B64}{{2}}==)?)$",
           "description": "whsec_ and the base64 of a 24- to 64-byte key (Standard Webhooks); made if not given"}
_REPORT_ERRORS = (401, 403, 429, 503)
SLO_WINDOW = {"type": "string", "pattern": "^( *([1-9]|[1-8][0-9]|90)[dD] *)?$", "examples": ["30d"],
              "description": "Whole days, 1d to 90d (empty: the default)"}
OBJECTIVE = {"type": "number", "minimum": MIN_OBJECTIVE, "maximum": MAX_OBJECTIVE, "examples": [99.5],
             "description": "The percentage of business time up"}

COMPLETE_CSV = {
    "description": "Complete: the report (hour in minutes, day and week in hours), as CSV unless another "
                   "format is asked for (format, or Accept): JSON Lines, an object a store, or Parquet",
    "headers": {"X-Report-As-Of": {"schema": INSTANT, "description": "The instant the report is computed for"},
                "X-Report-Status": {"schema": {"const": "Complete"}}},
    "content": {"text/csv": {"schema": {"type": "string"}, "examples": {
        "report": {"value": ",".join(COLUMNS) + "\n8419537941919820732,60.00,20.12,123.50,0.00,3.88,44.50\n"},
        "extended": {"value": ",".join(EXTENDED_COLUMNS)
                     + "\n8419537941919820732,60.00,20.12,123.50,0.00,3.88,44.50,0.00,1.00,9.25\n"}}},
                "application/jsonl": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}},
}
COLUMNS_CHOICE = {"type": "string", "enum": list(COLUMN_SETS), "default": STANDARD_COLUMNS}
FORMAT_QUERY = _query("format", {"type": "string", "enum": list(FORMATS)},
                      "The format of a Complete report (default: by the Accept header, else CSV)")
FAILED_OR_WAITING = {
    "200": {**COMPLETE_CSV, "description": "Complete: the CSV; Failed: JSON with the reason",
            "content": {**COMPLETE_CSV["content"], "application/json": {"schema": _ref("FailedReport")}}},
    "202": _json(_ref("WaitingReport"), "Pending or Running, with the fraction done"),
}


def document() -> dict:
    polls, hours, zones, special, holidays, directory = (_ingest_operation(kind, summary) for kind, summary in (
        ("polls", "Append polls (a poll stored already is kept once; inactive wins)"),
        ("business_hours", "A new version of the weekly hours of every store the body names, from effective_date"),
        ("timezones", "A new version of the timezone of every store the body names, from effective_date"),
        ("special_hours", "Replace the special hours of every store and local date the body names (both times "
                          "empty: closed that date)"),
        ("holidays", "Replace the chain's holidays on every local date the body names (both times empty: "
                     "closed that date)"),
        ("stores", "Replace the name and group labels of every store the body names (the store directory)")))
    return {
        "openapi": "3.1.0",
        "info": {"title": "storemon", "version": __version__,
                 "description": "Uptime and downtime of every store within its business hours, as CSV "
                                "reports computed asynchronously; ingestion of polls, hours, timezones, special "
                                "hours and holidays; "
                                "store timelines; health and metrics. Report semantics: docs/semantics.md."},
        "paths": {
            "/trigger_report": {"post": {
                "operationId": "trigger_report", "tags": ["reports"], "security": REPORT_SECURITY,
                "summary": "Start a report; answers at once with its id",
                "description": "as_of, columns, group and windows may come in the query string or a JSON body, not both "
                               "with different values. A trigger identical to one still queued gets that report's "
                               "id (X-Report-Coalesced: true). A group no store is in is a 400.",
                "parameters": [AS_OF_QUERY, _query("allow_future", {"type": "boolean", "default": False},
                                                   "true: accept an as_of later than the newest poll (every store "
                                                   "comes out down after its last poll); otherwise that is a 400"),
                               _query("columns", COLUMNS_CHOICE, "extended: add no_data_last_hour, "
                                                                 "no_data_last_day, no_data_last_week"),
                               _query("group", GROUP, "Only the stores of this group (the whole report's rows of "
                                                      "them)"),
                               _query("windows", WINDOWS_CHOICE, "Windows beyond the standard three, of whole "
                                                                 "days: uptime_last_<N>d, downtime_last_<N>d (and "
                                                                 "no_data_last_<N>d) in hours after the standard "
                                                                 "columns; the lookback grows to the longest")],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"as_of": {"anyOf": [AS_OF_INPUT, {"type": "null"}]},
                                   "columns": {"anyOf": [COLUMNS_CHOICE, {"type": "null"}]},
                                   "group": {"anyOf": [GROUP, {"type": "null"}]},
                                   "windows": {"anyOf": [WINDOWS_CHOICE, {"type": "null"}]}}}}}},
                "responses": {"202": _json(_ref("Triggered"), "Queued", headers={
                    "Location": {"schema": {"type": "string"}, "description": "Where to poll the report"},
                    "X-Report-Coalesced": {"schema": {"const": "true"},
                                           "description": "Present when an identical queued report answers"}},
                    links={"GetReport": {"operationId": "get_report",
                                         "parameters": {"report_id": "$response.body#/report_id"},
                                         "description": "The report, while it computes and once it is done"},
                           "ReportsBefore": {"operationId": "report_history",
                                             "parameters": {"before": "$response.body#/report_id"},
                                             "description": "The reports made before it"}}),
                              **_errors(400, 413, *_REPORT_ERRORS)}}},
            "/get_report": {"get": {
                "operationId": "get_report_by_query", "tags": ["reports"], "security": REPORT_SECURITY,
                "summary": "A report's status, or its CSV once Complete",
                "parameters": [_query("report_id", {"type": "string", "minLength": 1}, "The id trigger_report gave",
                                      True), FORMAT_QUERY],
                "responses": {**FAILED_OR_WAITING, **_errors(400, 404, *_REPORT_ERRORS)}}},
            "/get_report/{report_id}": {"get": {
                "operationId": "get_report", "tags": ["reports"], "security": REPORT_SECURITY,
                "summary": "A report's status, or its CSV once Complete",
                "parameters": [{"name": "report_id", "in": "path", "required": True, "schema": {"type": "string"}},
                               FORMAT_QUERY],
                "responses": {**FAILED_OR_WAITING, **_errors(400, 404, *_REPORT_ERRORS)}}},
            "/reports": {"get": {
                "operationId": "report_history", "tags": ["reports"], "security": REPORT_SECURITY,
                "summary": "Reports, newest first, a page at a time",
                "parameters": [
                    _query("status", STATUS, "Only reports in this state"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "Page size"),
                    _query("before", REPORT_ID, "The last report_id of the previous page (its `next` link)"),
                ],
                "responses": {"200": _json(_ref("ReportPage"), "A page of reports"),
                              **_errors(400, 404, *_REPORT_ERRORS)}}},
            "/reports/latest": {"get": {
                "operationId": "latest_report", "tags": ["reports"], "security": REPORT_SECURITY,
                "summary": "The newest routine report (the newest Complete one of every store asked for without an "
                           "as_of; the clock's are extended)",
                "parameters": [FORMAT_QUERY],
                "responses": {"200": COMPLETE_CSV, **_errors(400, 404, *_REPORT_ERRORS)}}},
            "/polls": {"post": polls},
            "/business_hours": {"put": hours},
            "/timezones": {"put": zones},
            "/special_hours": {"put": special},
            "/holidays": {"put": holidays},
            "/stores": {"put": directory, "get": {
                "operationId": "find_stores", "tags": ["stores"], "security": REPORT_SECURITY,
                "summary": "Stores whose id begins with q or whose name holds it (any case), with their weekly "
                           "uptime in the newest report",
                "parameters": [_query("q", {"type": "string", "maxLength": 255}, "A store id prefix, or a part of a "
                                                                                 "name"),
                               _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                                      "At most this many")],
                "responses": {"200": _json(_ref("StoreList"), "Matching stores, by id"),
                              **_errors(400, *_REPORT_ERRORS)}},
                "delete": {
                    "operationId": "retire_stores", "tags": ["stores"], "security": [{"bearer": []}],
                    "summary": "Retire stores: each, with its hours, timezone and polls, deleted; all or none",
                    "description": "Needs an admin token. Reports already made keep their rows; the next report "
                                   "no longer lists the stores. An id naming no store retires nothing (404).",
                    "parameters": [{"name": "store_id", "in": "query", "required": True, "style": "form",
                                    "explode": True, "description": "A store to retire; repeat it for several",
                                    "schema": {"type": "array", "items": STORE_ID, "minItems": 1, "maxItems": 1000},
                                    "examples": {"one": {"value": ["a-store-that-closed"]}}}],
                    "responses": {"200": _json(_ref("Retired"), "Retired"),
                                  **_errors(400, 401, 403, 404, 429, 503)}}},
            "/stores/down": {"get": {
                "operationId": "stores_down", "tags": ["stores"], "security": REPORT_SECURITY,
                "summary": "The stores down now, longest down first, from the newest polls (no report)",
                "description": "Down now: open at the data's clock (the newest poll), and the latest poll taken "
                               "in its business hours is inactive and at most POLL_INTERVAL old. Since: the "
                               "first inactive poll after the last active one, read back a day.",
                "parameters": [_query("group", GROUP, "Only the stores of this group"),
                               _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                                      "List at most this many (all are counted)")],
                "responses": {"200": _json(_ref("DownStores"), "The stores down now"),
                              **_errors(400, *_REPORT_ERRORS)}}},
            "/stores/{store_id}/timeline": {"get": {
                "operationId": "store_timeline", "tags": ["stores"], "security": REPORT_SECURITY,
                "summary": "One store's sessions, segments and polls: why the report says what it says",
                "parameters": [{"name": "store_id", "in": "path", "required": True, "schema": STORE_ID},
                               AS_OF_OR_EMPTY],
                "responses": {"200": _json(_ref("Timeline"), "The store's timeline"),
                              **_errors(400, 404, *_REPORT_ERRORS)}}},
            "/stores/{store_id}/calendar": {"get": {
                "operationId": "store_calendar", "tags": ["stores"], "security": REPORT_SECURITY,
                "summary": "One store's weekly hours, and its special hours and the chain's holidays by date",
                "parameters": [{"name": "store_id", "in": "path", "required": True, "schema": STORE_ID},
                               _query("from", DATE_QUERY, "The first local date (default: every date)"),
                               _query("to", DATE_QUERY, "The last local date (default: every date)")],
                "responses": {"200": _json(_ref("Calendar"), "The store's calendar"),
                              **_errors(400, 404, *_REPORT_ERRORS)}}},
            "/incidents": {"get": {
                "operationId": "list_incidents", "tags": ["incidents"], "security": REPORT_SECURITY,
                "summary": "Incidents (a store down or silent in its business hours, the poller silent), open first",
                "parameters": [_query("state", {"type": "string", "enum": ["open", "resolved", "any", ""],
                                                "default": "any"}, "Only open or only resolved ones (empty: any)"),
                               _query("kind", {"type": "string", "enum": [*KINDS, ""]},
                                      "Only incidents of this kind (empty: every kind)"),
                               _query("store_id", {"type": "string"}, "Only this store's (empty: every store's)"),
                               _query("group", GROUP, "Only the stores of this group"),
                               _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                                      "List at most this many")],
                "responses": {"200": _json(_ref("Incidents"), "The incidents"), **_errors(400, *_REPORT_ERRORS)}}},
            "/trends": {"get": {
                "operationId": "list_trends", "tags": ["reports"], "security": REPORT_SECURITY,
                "summary": "Uptime within business hours per UTC day, of a store, a group or the fleet",
                "description": "Each day as the report as of the midnight that ends it computes its last day; "
                               "the complete days before the newest poll's that have figures (the clock computes "
                               "them: TREND_SCHEDULE). store_id or group, not both; neither: the fleet.",
                "parameters": [_query("store_id", {"type": "string"}, "One store's days (empty: the fleet's)"),
                               _query("group", GROUP, "One group's stores, summed"),
                               _query("days", {"type": "integer", "minimum": 1, "maximum": 90, "default": 90},
                                      "The last this many days")],
                "responses": {"200": _json(_ref("Trend"), "The days, oldest first"),
                              **_errors(400, *_REPORT_ERRORS)}}},
            "/slo": {"get": {
                "operationId": "list_slo", "tags": ["slo"], "security": REPORT_SECURITY,
                "summary": "Each store's SLO over a window: attainment, error budget left, burn rates; worst first",
                "description": "The figures of the report with that window as of the newest poll. A store's "
                               "objective is its own target's, else the strictest of its groups', else the "
                               "fleet's, else none (then its budget and burn rates are null).",
                "parameters": [_query("window", SLO_WINDOW, "The SLO's window (default SLO_WINDOW_DAYS)"),
                               _query("store_id", {"type": "string"}, "Only this store (empty: every store)"),
                               _query("group", GROUP, "Only the stores of this group"),
                               _query("limit", {"type": "integer", "minimum": 1, "maximum": 100000},
                                      "List at most this many (the worst first)")],
                "responses": {"200": _json(_ref("Slo"), "The stores' SLOs"),
                              **_errors(400, 404, *_REPORT_ERRORS)}}},
            "/slo/targets": {"get": {
                "operationId": "list_slo_targets", "tags": ["slo"], "security": REPORT_SECURITY,
                "summary": "The SLO targets: the fleet's, the groups', the stores'",
                "responses": {"200": _json({"type": "object", "required": ["targets"], "properties": {
                    "targets": {"type": "array", "items": _ref("SloTarget")}}}, "The targets"),
                    **_errors(*_REPORT_ERRORS)}}},
            **{path: {
                "put": {"operationId": f"set_{what}_slo_target", "tags": ["slo"], "security": [{"bearer": []}],
                        "summary": f"Set {who} SLO objective (an admin token)", "parameters": parameters,
                        "requestBody": {"required": True, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["objective_pct"], "additionalProperties": False,
                            "properties": {"objective_pct": OBJECTIVE}}}}},
                        "responses": {"200": _json(_ref("SloTarget"), "Changed"),
                                      "201": _json(_ref("SloTarget"), "Set"),
                                      **_errors(400, 401, 403, *((404,) if what == "store" else ()), 429, 503)}},
                "delete": {"operationId": f"remove_{what}_slo_target", "tags": ["slo"],
                           "security": [{"bearer": []}], "summary": f"Remove {who} SLO target (an admin token)",
                           "parameters": parameters,
                           "responses": {"204": {"description": "Removed"},
                                         **_errors(*((400,) if what == "group" else ()), 401, 403, 404, 429, 503)}}}
                for path, what, who, parameters in (
                    ("/slo/targets/fleet", "fleet", "the fleet's", []),
                    ("/slo/targets/groups/{group}", "group", "a group's",
                     [{"name": "group", "in": "path", "required": True, "schema": GROUP}]),
                    ("/slo/targets/stores/{store_id}", "store", "a store's",
                     [{"name": "store_id", "in": "path", "required": True, "schema": STORE_ID}]))},
            "/webhooks": {
                "post": {"operationId": "add_webhook", "tags": ["webhooks"], "security": [{"bearer": []}],
                         "summary": "Add an endpoint notified of incidents (an admin token); its secret is shown once",
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": _ref("NewWebhook")}}},
                         "responses": {"201": _json(_ref("Webhook"), "Added; the answer shows the whole secret"),
                                       **_errors(400, 401, 403, 429, 503)}},
                "get": {"operationId": "list_webhooks", "tags": ["webhooks"], "security": [{"bearer": []}],
                        "summary": "The endpoints (an admin token)",
                        "responses": {"200": _json({"type": "object", "required": ["webhooks"], "properties": {
                            "webhooks": {"type": "array", "items": _ref("Webhook")}}}, "The endpoints"),
                            **_errors(401, 403, 429, 503)}}},
            "/webhooks/{webhook_id}": {
                "get": {"operationId": "show_webhook", "tags": ["webhooks"], "security": [{"bearer": []}],
                        "summary": "One endpoint (an admin token)", "parameters": [WEBHOOK_ID],
                        "responses": {"200": _json(_ref("Webhook"), "The endpoint"),
                                      **_errors(401, 403, 404, 429, 503)}},
                "delete": {"operationId": "remove_webhook", "tags": ["webhooks"], "security": [{"bearer": []}],
                           "summary": "Remove an endpoint and its delivery log (an admin token)",
                           "parameters": [WEBHOOK_ID],
                           "responses": {"204": {"description": "Removed"}, **_errors(401, 403, 404, 429, 503)}}},
            "/webhooks/{webhook_id}/deliveries": {"get": {
                "operationId": "webhook_deliveries", "tags": ["webhooks"], "security": [{"bearer": []}],
                "summary": "An endpoint's delivery log, newest first (an admin token)",
                "parameters": [WEBHOOK_ID, _query("body", {"type": "boolean", "default": False},
                                                  "true: each with the body it sent (then at most 20 at a time)"),
                               _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                                      "List at most this many (with bodies: at most 20, default 20)")],
                "responses": {"200": _json(_ref("Deliveries"), "The deliveries"),
                              **_errors(400, 401, 403, 404, 429, 503)}}},
            "/webhooks/{webhook_id}/test": {"post": {
                "operationId": "test_webhook", "tags": ["webhooks"], "security": [{"bearer": []}],
                "summary": "Send an endpoint a test notification, signed as every other (an admin token)",
                "parameters": [WEBHOOK_ID],
                "responses": {"202": _json({"type": "object", "required": ["delivery", "webhook"], "properties": {
                    "delivery": {"type": "integer"}, "webhook": {"type": "integer"}}}, "Queued"),
                    **_errors(401, 403, 404, 429, 503)}}},
            "/health": {"get": {
                "operationId": "health", "tags": ["operations"], "security": [{}],
                "summary": "Whether the database and Redis answer",
                "responses": {"200": _json(_ref("Health"), "Both answer"),
                              "503": _json(_ref("Health"), "One does not; each says why")}}},
            "/metrics": {"get": {
                "operationId": "metrics", "tags": ["operations"],
                "security": [{"bearer": []}, {"basic": []}],
                "summary": "Prometheus metrics (METRICS_TOKEN, an admin token, or the dashboard's login)",
                "responses": {"200": {"description": "Prometheus text format",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}},
                              **_errors(401)}}},
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token (python -m storemon token create NAME --scope ...)"},
                "basic": {"type": "http", "scheme": "basic", "description": "The dashboard's login"},
            },
            "schemas": _schemas(),
        },
    }


_REQUIRED = {"timezones": ["store_id"], "stores": ["store_id"],  # no zone, name or groups: none
             "business_hours": ["store_id", "day", "start_time_local", "end_time_local"],
             "special_hours": ["store_id", "date"], "holidays": ["date"]}  # no times: closed
_DATED = ("special_hours", "holidays")


def _ingest_operation(kind: str, summary: str) -> dict:
    header, row, item = INGESTED[kind]
    return {
        "operationId": f"ingest_{kind}", "tags": ["ingestion"], "security": [{"bearer": []}],
        "summary": summary,
        "description": "All or nothing: one transaction. A CSV body has its header line; a JSON body is an "
                       "array of objects keyed like it. gzip with Content-Encoding: gzip. Needs the ingest scope.",
        "parameters": [_query("skip_bad", {"type": "boolean", "default": False},
                              "Store the good rows and list the bad ones, instead of refusing the body"),
                       _query("create", {"type": "boolean", "default": True},
                              "false: refuse the body (400, listing them) if it names stores that do not exist, "
                              "instead of creating them"),
                       *([_query("effective_date", DATE_QUERY, "The local date this version takes effect (default: "
                                                               "the newest poll's date)")]
                         if kind in ("business_hours", "timezones") else [])],
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": {"type": "string", "pattern": f"^{header}\n({row}\n)*$"}},
            "application/json": {"schema": {"type": "array", "items": {
                "type": "object", "properties": item, "additionalProperties": False,
                "required": _REQUIRED.get(kind, list(item)), **(_JSON_DATED_TIMES if kind in _DATED else {})}}},
        }},
        "responses": {"200": _json(_ref("Ingested"), "Stored"), **_errors(400, 401, 403, 413, 415, 429, 503)},
    }


def _schemas() -> dict:
    nullable = {"type": ["string", "null"]}
    maybe_number = {"type": ["number", "null"]}
    window = {"type": "number", "minimum": 0}
    moment = {"type": "object", "required": ["utc", "local"], "properties": {"utc": INSTANT, "local": INSTANT}}
    return {
        "Error": ERROR,
        "RejectedRow": {"type": "object", "required": ["problem"], "properties": {
            "line": {"type": "integer", "description": "CSV line (the header is line 1)"},
            "index": {"type": "integer", "description": "JSON array index"},
            "problem": {"type": "string"}}},
        "Triggered": {"type": "object", "required": ["report_id"], "properties": {"report_id": REPORT_ID}},
        "WaitingReport": {"type": "object", "required": ["report_id", "status", "progress"], "properties": {
            "report_id": REPORT_ID, "status": {"enum": ["Pending", "Running"]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1}}},
        "FailedReport": {"type": "object", "required": ["report_id", "status", "error"], "properties": {
            "report_id": REPORT_ID, "status": {"const": "Failed"}, "error": {"type": "string"}}},
        "Report": {"type": "object", "required": ["report_id", "status", "progress", "created_at"], "properties": {
            "report_id": REPORT_ID, "status": STATUS, "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "requested_as_of": nullable, "as_of": nullable, "created_at": INSTANT,
            "started_at": nullable, "finished_at": nullable, "duration_s": {"type": ["number", "null"]},
            "rows": {"type": ["integer", "null"]}, "error": nullable, "columns": COLUMNS_CHOICE,
            "group": {**nullable, "description": "The group the report is of (null: every store)"},
            "windows": {"type": "array", "items": {"type": "string"},
                        "description": "Its windows: 1h, 1d, 7d and any longer ones"}}},
        "ReportPage": {"type": "object", "required": ["reports", "next"], "properties": {
            "reports": {"type": "array", "items": _ref("Report")},
            "next": {**nullable, "description": "The next page's URL, or null on the last"}}},
        "Retired": {"type": "object", "required": ["retired", "stores", "polls"], "properties": {
            "retired": {"type": "array", "items": {"type": "string"}}, "stores": {"type": "integer"},
            "polls": {"type": "integer", "description": "Polls deleted with them"}}},
        "Ingested": {"type": "object", "required": ["rows_read", "new_polls", "stores", "rejected",
                                                    "rejected_count", "seconds"], "properties": {
            "rows_read": {"type": "integer"}, "new_polls": {"type": "integer"}, "stores": {"type": "integer"},
            "rejected": {"type": "array", "items": _ref("RejectedRow")}, "rejected_count": {"type": "integer"},
            "seconds": {"type": "number"},
            "new_stores": {"type": "integer", "description": "Stores the body named that did not exist: created"},
            "new_store_ids": {"type": "array", "items": {"type": "string"},
                              "description": "The first 100 of them, in order"},
            "unknown_timezones": {"type": "array", "items": {"type": "string"},
                                  "description": "The first 100 names no zone has, in order"},
            "unknown_timezone_count": {"type": "integer"}}},
        "StoreList": {"type": "object", "required": ["report_id", "stores"], "properties": {
            "report_id": {**nullable, "description": "The newest routine report, whose weekly uptime is shown"},
            "stores": {"type": "array", "items": {"type": "object", "required": ["store_id"], "properties": {
                "store_id": {"type": "string"}, "name": nullable, "groups": {"type": "array", "items": {"type": "string"}},
                "timezone": nullable, "weekly_uptime_pct": {"type": ["number", "null"]}}}}}},
        "Incident": {"type": "object", "required": ["id", "kind", "store_id", "open", "since", "resolved"],
                     "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string", "enum": list(KINDS)},
            "store_id": {**nullable, "description": "null: the poller's"}, "name": nullable,
            "groups": {"type": "array", "items": {"type": "string"}}, "open": {"type": "boolean"},
            "since": {**INSTANT, "description": "When it began (the data's clock)"},
            "opened_by_poll": {**nullable, "description": "The poll that opened it"},
            "resolved": {**nullable, "description": "When it ended (null: open)"},
            "resolved_by_poll": nullable, "noticed_at": {**INSTANT, "description": "When storemon opened it (wall clock)"},
            "resolved_noticed_at": nullable}},
        "Slo": {"type": "object", "required": ["as_of", "window", "fast_burn", "summary", "stores"], "properties": {
            "as_of": {**nullable, "description": "The data's clock: the newest poll (null: none yet)"},
            "window": {"type": "string"}, "fast_burn": {"type": "number"},
            "summary": {"type": ["object", "null"], "properties": {
                "stores": {"type": "integer"}, "with_objective": {"type": "integer"}, "meeting": {"type": "integer"},
                "exhausted": {"type": "integer"}, "burning": {"type": "integer"},
                "attainment_pct": {"type": ["number", "null"]}}},
            "stores": {"type": "array", "items": {"type": "object", "required": [
                "store_id", "target", "objective_pct", "uptime_h", "downtime_h", "attainment_pct", "budget_h",
                "budget_left_pct", "burn_rate", "exhausted", "burning"], "properties": {
                "store_id": {"type": "string"},
                "target": {**nullable, "description": "The target that applies: fleet, group:<label> or store:<id>"},
                "objective_pct": maybe_number, "uptime_h": {"type": "number"}, "downtime_h": {"type": "number"},
                "attainment_pct": {**maybe_number, "description": "null: no business time in the window"},
                "budget_h": {**maybe_number, "description": "The downtime the objective allows (null: none)"},
                "budget_left_pct": {**maybe_number, "description": "1 - downtime / budget, in percent"},
                "burn_rate": {"type": "object", "additionalProperties": maybe_number,
                              "description": "By window (1h, 1d, 7d and the SLO's): how many times faster than "
                                             "the objective allows the budget is spent"},
                "exhausted": {"type": "boolean"}, "burning": {"type": "boolean"}}}}}},
        "SloTarget": {"type": "object", "required": ["scope", "name", "objective_pct", "updated_at"], "properties": {
            "scope": {"type": "string", "enum": ["fleet", "group", "store"]},
            "name": {**nullable, "description": "The group's label or the store's id (null: the fleet)"},
            "objective_pct": {"type": "number"}, "updated_at": nullable}},
        "Trend": {"type": "object", "required": ["as_of", "days"], "properties": {
            "as_of": {**nullable, "description": "The data's clock: the newest poll (null: none yet)"},
            "store_id": nullable, "group": nullable,
            "days": {"type": "array", "items": {"type": "object", "required": ["date", "uptime_h", "downtime_h",
                                                                              "uptime_pct", "stores"],
                                                "properties": {
                "date": {"type": "string"}, "uptime_h": {"type": "number"}, "downtime_h": {"type": "number"},
                "uptime_pct": {"type": ["number", "null"], "description": "null: no business time that day"},
                "stores": {"type": "integer", "description": "Stores with business time that day"}}}}}},
        "Incidents": {"type": "object", "required": ["count", "incidents"], "properties": {
            "count": {"type": "integer"}, "incidents": {"type": "array", "items": _ref("Incident")}}},
        "NewWebhook": {"type": "object", "required": ["url"], "additionalProperties": False, "properties": {
            "url": _WEBHOOK_URL, "secret": {"anyOf": [_SECRET, {"type": "null"}]},
            "kinds": {"type": ["array", "null"], "items": {"type": "string", "enum": list(KINDS)}, "maxItems": len(KINDS),
                      "description": "The incident kinds it hears of (none or null: all)"},
            "store_ids": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1, "maxLength": 200},
                          "maxItems": 1000, "description": "The stores it hears of (with groups; neither: all)"},
            "groups": {"type": ["array", "null"], "items": GROUP, "maxItems": 100},
            "slack": {"type": "boolean", "description": "A Slack-compatible body ({\"text\"}) instead of JSON"},
            "reminder_s": {"type": ["integer", "null"], "minimum": 60, "maximum": 604800,
                           "description": "Remind it of incidents still open this often"}}},
        "Webhook": {"type": "object", "required": ["id", "url", "secret", "kinds", "slack"], "properties": {
            "id": {"type": "integer"}, "url": {"type": "string"},
            "secret": {"type": "string", "description": "Whole when added; else its first characters"},
            "kinds": {"type": "array", "items": {"type": "string"}},
            "store_ids": {"type": ["array", "null"], "items": {"type": "string"}},
            "groups": {"type": ["array", "null"], "items": {"type": "string"}},
            "slack": {"type": "boolean"}, "reminder_s": {"type": ["integer", "null"]}, "created_at": INSTANT}},
        "Deliveries": {"type": "object", "required": ["webhook", "deliveries"], "properties": {
            "webhook": {"type": "integer"}, "deliveries": {"type": "array", "items": {
                "type": "object", "required": ["id", "message_id", "event", "status", "attempts"], "properties": {
                    "id": {"type": "integer"}, "webhook": {"type": "integer"}, "message_id": {"type": "string"},
                    "event": {"type": "string"}, "incidents": {"type": "integer"},
                    "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                    "attempts": {"type": "integer"}, "created_at": INSTANT, "last_attempt_at": nullable,
                    "next_attempt_at": nullable, "last_status": {"type": ["integer", "null"]},
                    "last_error": nullable, "delivered_at": nullable, "body": {}}}}}},
        "DownStores": {"type": "object", "required": ["as_of", "poll_interval_s", "count", "stores"], "properties": {
            "as_of": {**nullable, "description": "The data's clock: the newest poll (null: none yet)"},
            "poll_interval_s": {"type": "integer"}, "group": nullable,
            "count": {"type": "integer", "description": "How many are down now (all, not only those listed)"},
            "stores": {"type": "array", "items": {"type": "object", "required": [
                "store_id", "since", "since_exact", "last_poll"], "properties": {
                "store_id": {"type": "string"}, "name": nullable, "groups": {"type": "array", "items": {"type": "string"}},
                "since": {**INSTANT, "description": "The first inactive poll after the last active one"},
                "since_exact": {"type": "boolean", "description": "false: every poll of the day read was "
                                                                 "inactive; down at least since then"},
                "last_poll": INSTANT}}}}},
        "Timeline": {"type": "object", "required": ["store_id", "timezone_used", "as_of", "listed", "sessions",
                                                    "polls"], "properties": {
            "store_id": {"type": "string"}, "timezone": nullable, "timezone_used": {"type": "string"},
            "as_of": moment, "listed": {"type": "boolean"},
            "hours": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "day": {"type": "string"}, "weekday": {"type": "integer"},
                "start": {"type": "string"}, "end": {"type": "string"}}}},
            "totals_us": {"type": ["object", "null"], "additionalProperties": {"type": "integer"}},
            "row": {"type": ["object", "null"], "description": "The store's CSV row",
                    "additionalProperties": {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$"}},
            "hours_history": {"type": "array", "items": _ref("HoursVersion")},
            "timezone_history": {"type": "array", "items": _ref("ZoneVersion")},
            "special_hours": {"type": "array", "items": _ref("DatedHours"),
                              "description": "Of the dates this timeline reaches"},
            "holidays": {"type": "array", "items": _ref("DatedHours"), "description": "Of the dates it reaches"},
            "name": nullable, "groups": {"type": "array", "items": {"type": "string"}},
            "evidence": {"type": "object", "properties": {
                "polls": {"type": "integer", "description": "Evidence polls in the 8-day lookback"},
                "last": {"anyOf": [moment, {"type": "null"}]}}},
            "no_data": {"type": "array", "items": {"type": "object", "properties": {
                "start": moment, "end": moment, "status": {"enum": ["up", "down"]},
                "assumed_from": {"anyOf": [moment, {"type": "null"}],
                                 "description": "The poll the stretch's status came from"},
                "seconds": window, "explanation": {"type": "string"}}}},
            "sessions": {"type": "array", "items": {"type": "object", "properties": {
                "start": moment, "end": moment, "rule": {"type": "string"}, "explanation": {"type": "string"},
                "hours_from": {"type": "string", "description": "weekly hours, special hours or a holiday, by the "
                                                                "local date the session starts on"},
                "segments": {"type": "array", "items": {"type": "object", "properties": {
                    "start": INSTANT, "end": INSTANT, "status": {"enum": ["up", "down"]},
                    "seconds": window}}}}}},
            "polls": {"type": "array", "items": {"type": "object", "properties": {
                "timestamp_utc": INSTANT, "local": INSTANT, "status": {"enum": ["active", "inactive"]},
                "use": {"type": "string"}, "explanation": {"type": "string"}}}}}},
        "HoursVersion": {"type": "object", "required": ["effective_date", "hours"], "properties": {
            "effective_date": {"type": ["string", "null"], "description": "The local date it holds from (the "
                                                                         "first version: every date before too)"},
            "hours": {"type": ["array", "null"], "items": {"type": "object"}}}},
        "ZoneVersion": {"type": "object", "required": ["effective_date", "timezone"], "properties": {
            "effective_date": {"type": ["string", "null"]}, "timezone": nullable}},
        "DatedHours": {"type": "object", "required": ["date", "closed", "hours"], "properties": {
            "date": {"type": "string", "format": "date"}, "closed": {"type": "boolean"},
            "hours": {"type": "array", "items": {"type": "object", "required": ["start", "end"], "properties": {
                "start": {"type": "string"}, "end": {"type": "string"}}}},
            "name": {"type": "string", "description": "Holidays only"}}},
        "Calendar": {"type": "object", "required": ["store_id", "timezone", "hours", "special_hours", "holidays"],
                     "properties": {
            "store_id": {"type": "string"}, "name": nullable, "groups": {"type": "array", "items": {"type": "string"}},
            "timezone": nullable,
            "hours": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "day": {"type": "string"}, "weekday": {"type": "integer"},
                "start": {"type": "string"}, "end": {"type": "string"}}}, "description": "null: around the clock"},
            "hours_history": {"type": "array", "items": _ref("HoursVersion")},
            "timezone_history": {"type": "array", "items": _ref("ZoneVersion")},
            "special_hours": {"type": "array", "items": _ref("DatedHours")},
            "holidays": {"type": "array", "items": _ref("DatedHours")}}},
        "Health": {"type": "object", "required": ["status", "database", "redis"], "properties": {
            "status": {"enum": ["ok", "unavailable"]}, "database": {"type": "string"},
            "redis": {"type": "string"}, "queue_depth": {"type": "integer"}}},
    }


@openapi.get("/openapi.json")
def openapi_json():
    return jsonify(document())


docs = get_swaggerui_blueprint("/docs", "/openapi.json", config={"app_name": "storemon API"},
                               blueprint_name="docs")
