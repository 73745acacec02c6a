"""Tests of the formats package."""
