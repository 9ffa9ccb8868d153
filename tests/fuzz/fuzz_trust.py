"""atheris harness for the trust family (tests/unit/fuzz/test_trust.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("trust")
