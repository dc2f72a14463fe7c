"""The serving layer: the model in memory, the HTTP API, its state and operations."""
