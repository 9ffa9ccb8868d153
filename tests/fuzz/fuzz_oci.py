"""atheris harness for the oci family (tests/unit/fuzz/test_oci.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("oci")
