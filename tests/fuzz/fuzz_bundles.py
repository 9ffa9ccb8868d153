"""atheris harness for the bundles family (tests/unit/fuzz/test_bundles.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("bundles")
