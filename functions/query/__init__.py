"""The query function: the three read routes, with the contract's authorization rules."""
