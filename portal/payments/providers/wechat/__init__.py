"""WeChat Pay: API v3 (`v3`, preferred), API v2 (`v2`, the fallback), what both share (`common`), and the provider
that picks one of them (`provider`)."""
