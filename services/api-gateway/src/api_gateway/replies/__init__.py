"""Replies held by the quality guard, and the curator's queue that releases or returns them."""
