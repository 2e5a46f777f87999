"""One attempt to deliver a notification: a signed POST, its answer, and when to try again.

An attempt succeeds on a 2xx answer. Anything else (another status, a redirect, a refused
connection, no answer within the timeout) fails it, and the next waits twice as long as the
last (the first wait is WEBHOOK_BACKOFF, the longest an hour) until the attempts run out.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from . import signing

LONGEST_WAIT_S = 3600
_ANSWER_READ = 64 << 10  # of an answer's body, at most this much is read (and dropped)
USER_AGENT = "storemon-webhooks/1"


@dataclass(frozen=True)
class Answer:
    delivered: bool
    status: int | None  # the HTTP status, if an answer came
    error: str | None  # what went wrong, for the delivery log


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None  # a redirect is an answer that is not 2xx: the attempt fails


_opener = urllib.request.build_opener(_NoRedirects)


def attempt(url: str, secret: str, message_id: str, body: bytes, timeout_s: float) -> Answer:
    """POST the body, signed now; the answer."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **signing.headers(secret, message_id, int(time.time()), body)}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _opener.open(request, timeout=timeout_s) as answer:
            status = answer.status
            try:
                answer.read(_ANSWER_READ)
            except (http.client.HTTPException, OSError):
                pass  # (the status is the answer; a body cut short does not undo it)
    except urllib.error.HTTPError as exc:
        exc.close()
        return Answer(False, exc.code, f"answered {exc.code}")
    except urllib.error.URLError as exc:
        return Answer(False, None, f"unreachable: {exc.reason}"[:300])
    except (TimeoutError, OSError) as exc:
        return Answer(False, None, f"no answer: {exc or type(exc).__name__}"[:300])
    except http.client.HTTPException as exc:  # a malformed answer: a bad status line, a header too long
        return Answer(False, None, f"a malformed answer: {type(exc).__name__} {exc}"[:300])
    if 200 <= status < 300:
        return Answer(True, status, None)
    return Answer(False, status, f"answered {status}")


def wait_before(attempt_number: int, first_wait_s: int) -> float:
    """How long to wait after the ``attempt_number``-th attempt failed."""
    return float(min(first_wait_s * 2 ** (attempt_number - 1), LONGEST_WAIT_S))
