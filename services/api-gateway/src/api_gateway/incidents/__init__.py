"""Incidents: the read model fed by incident and post events, and the API over it (list, search,
detail, export, review queue, actions forwarded to routing)."""
