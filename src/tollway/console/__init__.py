"""The web console: server-rendered pages over the management API, in English and Chinese."""
