"""The routing directory (departments, officials, rules) through the gateway, scoped to the caller."""
