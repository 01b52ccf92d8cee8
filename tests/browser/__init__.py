"""Browser tests of the dashboard.

A package, so that its conftest.py does not take the place of tests/conftest.py as the module
`conftest` that other tests import from.
"""
