"""Who is calling: API keys, OAuth2 clients and their access tokens, the principal and its roles,
rate limits, and the security dependencies every other router uses."""
