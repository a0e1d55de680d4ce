"""Ingest: validate, minimise, pseudonymise and load a delivery; quarantine what fails;
suppression of erased subjects."""
