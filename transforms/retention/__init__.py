"""Retention: the rules, the raw files they expire, and the run that applies them."""
