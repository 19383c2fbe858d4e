"""Fixtures come from aioredpat's own pytest plugin (``aioredpat.testing``)."""
