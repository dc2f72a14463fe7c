"""Training that fits itself to the data: the search, the pipeline, the served model."""
