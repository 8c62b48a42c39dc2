"""What an incident's status means to the gateway: the words of routing's status machine that the read
model, the filters, analytics and Open311 group together. Imported from here, by everyone, one way."""

from __future__ import annotations

# A first response was given: the read model records when (answered_at).
ANSWERED_STATUSES = frozenset({"answered", "resolved", "closed"})
# Done with: the clocks stopped, never overdue, Open311's "closed".
CLOSED_STATUSES = frozenset({"resolved", "closed", "rejected"})
# The statuses an operator can still correct (routing's incidents.corrections.CORRECTABLE_FROM).
REVIEWABLE_STATUSES = ("new", "assigned", "in_progress", "reopened")
