"""The read side: the bitemporal read model's SQL and the questions asked of it."""
