"""Shared test helpers: tiny real models built locally in a few seconds (see ``tiny_models``)."""
