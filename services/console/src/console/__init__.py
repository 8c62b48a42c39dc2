"""The operator console: what a regional control centre sees in the browser, built only on the gateway's public API."""
