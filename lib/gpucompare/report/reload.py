"""What the preview adds to the pages it serves: a script that asks :data:`VERSION_PATH` for the
build state and reloads the page when the build counter moves, a "rebuilding" badge, and the last
build's error. Plain HTML and JavaScript, no network access (:mod:`gpucompare.report.preview`
serves them).

The script long-polls: it says which state it shows (``?version=N&building=0``) and the server
answers when that state changes, or after :data:`LONG_POLL_S`; the page then asks again at once.
A finished build reaches an open page within a round trip, not within a polling interval."""

from __future__ import annotations

import html
from dataclasses import dataclass

#: The endpoint the injected script polls: the build counter, whether a build runs, the last error.
VERSION_PATH = "/__gpucompare/version"
#: Seconds the server holds a request for the state that the page already shows (a browser keeps
#: a request open far longer; a proxy or a stopped preview answers or fails sooner).
LONG_POLL_S = 20.0
#: Milliseconds an open page waits before asking again after a failed request (the preview
#: stopped, or restarts).
RETRY_MS = 2000


@dataclass(frozen=True)
class State:
    """What the preview shows: ``version`` counts the builds that changed the pages (a page reloads
    when it moves), ``error`` is the last build's failure (None once a build succeeds)."""

    version: int = 0
    building: bool = False
    error: str | None = None
    has_report: bool = False
    last_build_s: float | None = None


def snippet(state: State) -> str:
    """The HTML added before ``</body>`` of every served page: the error banner (if the last build
    failed), a "rebuilding" badge and the polling script."""
    banner = ""
    if state.error:
        banner = (
            '<div id="gc-preview-error" role="alert" style="position:fixed;left:0;right:0;top:0;'
            "z-index:2147483647;max-height:40vh;overflow:auto;margin:0;padding:0.6em 1em;"
            'background:#fde8e8;color:#611;border-bottom:2px solid #b00;font:14px/1.4 sans-serif">'
            "<strong>The last edit did not build; this is the last good report.</strong>"
            f'<pre style="white-space:pre-wrap;margin:0.4em 0 0">{html.escape(state.error)}</pre>'
            "</div>"
        )
    badge = (
        '<div id="gc-preview-status" style="position:fixed;right:0.6em;bottom:0.6em;'
        "z-index:2147483647;padding:0.3em 0.7em;border-radius:0.3em;background:#333;color:#fff;"
        f'font:13px sans-serif"{"" if state.building else " hidden"}>rebuilding…</div>'
    )
    script = (
        "<script>(function(){"
        f"var shown={state.version},building={int(state.building)},"
        "badge=document.getElementById('gc-preview-status');"
        "function poll(){"
        f"fetch('{VERSION_PATH}?version='+shown+'&building='+building,{{cache:'no-store'}})"
        ".then(function(r){return r.json();})"
        ".then(function(s){"
        "if(s.version!==shown){location.reload();return;}"
        "building=s.building?1:0;"
        "badge.textContent='rebuilding…';badge.hidden=!s.building;poll();})"
        ".catch(function(){badge.textContent='preview stopped';badge.hidden=false;"
        f"setTimeout(poll,{RETRY_MS});}});}}"
        "poll();})();</script>"
    )
    return f"\n{banner}{badge}{script}\n"


def inject(page: bytes, state: State) -> bytes:
    """``page`` with :func:`snippet` before its last ``</body>`` (at the end if it has none)."""
    added = snippet(state).encode("utf-8")
    at = page.lower().rfind(b"</body>")
    return page[:at] + added + page[at:] if at >= 0 else page + added


def placeholder(state: State) -> bytes:
    """The page at ``/`` before the first report exists."""
    what = "The first build failed." if state.error else "Building the report…"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>gpucompare preview</title></head>"
        f'<body style="font:16px sans-serif;margin:2em"><p>{what}</p></body></html>'
    ).encode()
