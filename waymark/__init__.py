"""The ``waymark`` command: the one place that knows all three services."""
