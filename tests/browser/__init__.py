"""Browser tests of the dashboard.

A package, so that its fixtures and steps are imported as `browser.conftest` and its conftest.py
never stands in for tests/conftest.py.
"""
