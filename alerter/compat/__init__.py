"""Where alerter reaches past a library's public API: each module names the versions it was
written against and has a contract test (tests/compat/) run against the library's real code."""
