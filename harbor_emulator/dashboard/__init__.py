"""The local dashboard: server-rendered pages at `/` for what Harbor's docs send users to."""
