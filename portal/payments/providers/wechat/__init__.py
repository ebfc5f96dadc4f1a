"""WeChat Pay: API v3 (`v3`, preferred), API v2 (`v2`, the fallback) and what both share (`common`)."""
