"""atheris harness for the tsa family (tests/unit/fuzz/test_tsa.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("tsa")
