"""Host-process Lambda runtime: interpreters, the environment process and its bootstrap."""
