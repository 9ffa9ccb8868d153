"""atheris harness for the notes family (tests/unit/fuzz/test_notes.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("notes")
