"""Webhooks: subscriptions, their encrypted secrets, the dispatcher and the delivery log."""
