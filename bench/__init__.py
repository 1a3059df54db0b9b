"""Tollway's benchmark harness: a mock upstream, a bare pass-through proxy (the floor) and a load runner."""
