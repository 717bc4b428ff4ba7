"""LocalStack plugins of this project, registered as entry points in pyproject.toml."""
