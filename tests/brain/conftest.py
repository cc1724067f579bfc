"""Brain fixtures live in tests/conftest.py (shared with the call tests)."""
