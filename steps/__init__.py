"""Step kinds: the units of work a flow is made of.

A step kind turns a JSON config into work on Django models: importing rows
from a file, downloading files, recalculating aggregates, exporting a
queryset. Kinds are looked up by name in :mod:`steps.registry`.
"""
