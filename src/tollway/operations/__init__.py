"""Work that keeps a running gateway healthy: channel tests, balances, log retention, option sync across nodes."""
