"""Command handlers behind ``client.cli``: each takes ``argv`` and returns an exit code."""
