from tests.call.conftest import engines  # noqa: F401  (the real engines, loaded once)
