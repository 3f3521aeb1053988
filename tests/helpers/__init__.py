"""Builders, constants and clients shared by test modules; fixtures stay in conftest.py files."""
