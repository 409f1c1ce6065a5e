"""A local stand-in for the Devin v1 sessions API, with rate limits and fault injection."""
