"""Data-subject rights: request intake, subject resolution, processing, erasure, removal events."""
