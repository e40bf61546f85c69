"""Running the service: probes, metrics exposition, request observation and log format."""
