"""atheris harness for the sct family (tests/unit/fuzz/test_sct.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("sct")
