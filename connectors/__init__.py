"""Channel connectors: one package per partner system, each a transport plus a mapping."""
