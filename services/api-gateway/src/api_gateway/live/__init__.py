"""Live updates: the Server-Sent Events stream of the event log."""
