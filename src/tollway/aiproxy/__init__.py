"""FastGPT's AI Proxy mode: AI Proxy's admin routes, key, channel type numbers, call logs and monitoring."""
