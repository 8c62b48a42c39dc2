"""Ingest: posts pushed, imported, polled or sent by Telegram's webhook, normalised (`prepare`), stored
with their versions and queued as PostCollected (`service`) in transactions the `Ingestor` owns."""
