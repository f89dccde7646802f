"""Logging the way go-plugin relays it: one JSON object per line on stderr.

go-plugin's host reads the plugin's stderr line by line; a line that is a
JSON object with "@level", "@message" and "@timestamp" (hclog's JSON
format) becomes a structured log line in the agent's log, at that level,
with the other keys as fields. Anything else is logged as plain text.
"""

import datetime
import json
import sys
import threading

_lock = threading.Lock()


def _log(level, message, **fields):
    entry = {
        "@level": level,
        "@message": message,
        # go-plugin parses exactly this layout: microseconds and a zone.
        "@timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
    }
    for k, v in fields.items():
        entry[k] = v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
    line = json.dumps(entry, ensure_ascii=False)
    with _lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def debug(message, **fields):
    _log("debug", message, **fields)


def info(message, **fields):
    _log("info", message, **fields)


def warn(message, **fields):
    _log("warn", message, **fields)


def error(message, **fields):
    _log("error", message, **fields)
