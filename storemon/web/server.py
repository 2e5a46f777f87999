"""The web process: waitress serving the app, with its limits chosen rather than inherited.

waitress reads a request whole, in its event loop, before a thread runs it, so a client that
sends slowly holds a connection, never a thread. What a slow client can exhaust is
connections, so they are many (WEB_CONNECTION_LIMIT, watched with poll(), which has no
1,024-descriptor ceiling as select() has), and one idle for CHANNEL_TIMEOUT_S is closed.
Behind PROXY_HOPS proxies waitress believes their X-Forwarded-* headers, as the app does
(ProxyFix, for any other server): both take the client address the same number of hops
from the right, so they agree. A reverse proxy in front of it all is still the defence
against floods (docs/deployment.md).
"""

from __future__ import annotations

from ..config import Settings

CHANNEL_TIMEOUT_S = 30  # an idle connection, between requests or mid-request, is closed after this
_FORWARDED = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"}


def adjustments(settings: Settings, host: str = "0.0.0.0") -> dict:
    """waitress's settings for this service."""
    chosen = dict(host=host, port=settings.port, threads=settings.web_threads,
                  connection_limit=settings.web_connection_limit, channel_timeout=CHANNEL_TIMEOUT_S,
                  asyncore_use_poll=True, ident="storemon",
                  # the largest body waitress buffers; the app answers 413 past its own limits first
                  max_request_body_size=max(settings.max_upload_bytes, settings.max_ingest_bytes))
    if settings.proxy_hops:
        chosen.update(trusted_proxy="*", trusted_proxy_count=settings.proxy_hops,
                      trusted_proxy_headers=" ".join(sorted(_FORWARDED)), clear_untrusted_proxy_headers=True)
    return chosen


def serve(settings: Settings, host: str = "0.0.0.0") -> None:
    import waitress

    from .app import create_app

    waitress.serve(create_app(settings), **adjustments(settings, host))
