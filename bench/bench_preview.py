"""Time the preview's answer to a price edit (issue 21, target 5: visible within 2 s), a
benchmark, not a test. In this process: a :class:`gpucompare.report.preview.Preview` on
127.0.0.1 with an empty cache folder and a ``--params`` file, as ``gpucompare preview --params
prices.yaml`` runs it. After its first build, the file's H100 SXM price is edited three times:
two prices never built before (the sections that read prices run, in the preview's warm
kernels) and the first price again (restored from the report store). Each figure is the time
from the write to the build counter moving, and the time until an open page has the new page:
the bench asks for the build state as the page's script does (a request that the preview answers
when the state changes) and then fetches the page, which is checked to show the new price.

Results: bench/results/preview.json. Usage: ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

#: Issue 21's target: a price edit visible in the open page within this many seconds.
TARGET_S = 2.0
GPU = "h100-sxm"
PRICES_USD = (31111, 32222, 31111)


def _wait(pv, version: int, limit_s: float = 600) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        state = pv.state
        if state.version > version and not state.building:
            if state.error:
                raise SystemExit(f"the preview's build failed:\n{state.error}")
            return
        time.sleep(0.01)
    raise SystemExit(f"no new build within {limit_s} s")


def _page_sees(url: str, version: int, done: dict) -> None:
    """What an open page's script does until the build counter moves past ``version``: ask for
    the state it shows, again at each answer; then load the page (the parameters page, which shows
    the price). Records the second at which the page was loaded."""
    from gpucompare.report import reload

    building = 0
    while True:
        query = f"?version={version}&building={building}"
        with urllib.request.urlopen(url + reload.VERSION_PATH.lstrip("/") + query, timeout=60) as r:
            state = json.loads(r.read())
        if state["version"] != version:
            break
        building = int(state["building"])
    with urllib.request.urlopen(url + "parameters.html", timeout=30) as r:
        done["page"] = r.read().decode()
    done["at"] = time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpucompare-bench-") as tmp:
        os.environ["GPUCOMPARE_CACHE_DIR"] = f"{tmp}/cache"
        # The kernel server the preview starts ends a minute after the run, not ten.
        os.environ["GPUCOMPARE_KERNEL_SERVER_IDLE_S"] = "60"
        from gpucompare.report import preview

        prices = Path(tmp) / "prices.yaml"
        prices.write_text(f"price_usd: {{{GPU}: 30000}}\n", encoding="utf-8")
        pv = preview.Preview(Path(tmp) / "out", [prices], jobs=args.jobs).start()
        try:
            start = time.perf_counter()
            _wait(pv, 0)
            first_s = time.perf_counter() - start
            edits = []
            for price in PRICES_USD:
                version = pv.state.version
                page: dict = {}
                watcher = threading.Thread(target=_page_sees, args=(pv.url, version, page))
                watcher.start()
                time.sleep(0.5)  # a new modification time, as an editor's save some time later
                start = time.perf_counter()
                prices.write_text(f"price_usd: {{{GPU}: {price}}}\n", encoding="utf-8")
                _wait(pv, version)
                took = time.perf_counter() - start
                watcher.join(60)
                edits.append(
                    {
                        "price_usd": price,
                        "seen_before": PRICES_USD.index(price) < len(edits),
                        "new_build_s": round(took, 2),
                        "visible_s": round(page["at"] - start, 2),
                        "page_shows_price": str(price) in page["page"],
                    }
                )
        finally:
            pv.stop()
    result = {
        "first_build_s": round(first_s, 2),
        "edits": edits,
        "target_s": TARGET_S,
        "jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "preview.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for e in edits:
        verdict = "ok" if e["visible_s"] <= TARGET_S and e["page_shows_price"] else "over"
        what = "seen before" if e["seen_before"] else "new price"
        print(f"  price edit ({what}): {e['visible_s']:.2f} s against {TARGET_S:g} s: {verdict}")


if __name__ == "__main__":
    main()
