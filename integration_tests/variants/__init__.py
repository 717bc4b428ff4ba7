"""Test-only variants of the functions: the production code with faults injected around it."""
