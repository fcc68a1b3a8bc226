"""Workflows: recipes, reports, the demo, embedded samples and replay -- built on the operation packages."""
