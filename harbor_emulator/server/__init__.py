"""The serving process: the ASGI app that mounts the three HTTP surfaces (app.py), the edge
every request crosses (edge.py, security.py), the state gate (gate.py), configuration,
the listening socket and the shutdown rules (lifecycle.py)."""
