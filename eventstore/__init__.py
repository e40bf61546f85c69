"""The generic event store: append-only streams of events in one log, read gap-safely."""
