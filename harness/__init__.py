"""The library shared by the integration tests and the demo scenarios."""
