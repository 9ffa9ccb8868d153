"""atheris harness for the tokens family (tests/unit/fuzz/test_tokens.py); see harness.py."""

from tests.fuzz.harness import main

if __name__ == "__main__":
    main("tokens")
