"""One API's rule for slow channels after a test (controller/channel-test.go); fatal errors are routing/fatal.py's."""

from __future__ import annotations


def too_slow(took: float, threshold: float) -> bool:
    """A response slower than ChannelDisableThreshold seconds (0 switches the rule off, as in One API)."""
    return threshold > 0 and took > threshold
