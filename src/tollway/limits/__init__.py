"""Relay rate limits: requests and tokens per minute per token, per user and per group."""
