"""atheris harness for the tuf family (tests/unit/fuzz/test_tuf.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("tuf")
