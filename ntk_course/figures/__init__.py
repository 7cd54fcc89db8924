"""Computations and drawings behind the figures of individual chapters (one module per chapter)."""
