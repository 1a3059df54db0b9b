"""Tollway: a self-hosted LLM gateway, every provider behind one OpenAI-compatible endpoint."""

__version__ = "0.1.0"
