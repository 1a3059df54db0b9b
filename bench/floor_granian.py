"""The floor's proxy (bench/floor.py) served by granian instead of uvicorn, to compare the two servers.

Run with `FLOOR_UPSTREAM=http://127.0.0.1:M granian --interface asgi --loop uvloop --port N bench.floor_granian:app`.
"""

from __future__ import annotations

import os

from bench.floor import Floor

app = Floor(os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:9"))
