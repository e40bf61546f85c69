"""The log for other systems: webhooks the service pushes and Python subscribers on the workers."""
