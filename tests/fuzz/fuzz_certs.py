"""atheris harness for the certs family (tests/unit/fuzz/test_certs.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("certs")
