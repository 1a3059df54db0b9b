"""Prometheus metrics of the gateway and the GET /metrics route that serves them."""
