"""The order API: commands (commands.py) and the log-backed reads (history.py)."""
