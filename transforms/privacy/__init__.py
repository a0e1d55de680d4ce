"""Privacy rules applied to values: keys, identifier normalisation, text folding,
pseudonymisation, generalisation."""
