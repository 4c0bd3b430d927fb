"""What many tests share: a driven clock, pollers, builders of rules, logs and stores, the
webhook poster. Fixtures are registered in tests/conftest.py; helpers live here, so no test
module imports another."""
