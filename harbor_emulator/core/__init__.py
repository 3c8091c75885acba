"""Foundations every other room may use and that import none of them: the clock, ids and
seeded randomness, errors, JSON text, log lines, and the fixtures document reader."""
