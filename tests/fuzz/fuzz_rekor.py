"""atheris harness for the rekor family (tests/unit/fuzz/test_rekor.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("rekor")
