"""atheris harness for the rekor2 family (tests/unit/fuzz/test_rekor2.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("rekor2")
