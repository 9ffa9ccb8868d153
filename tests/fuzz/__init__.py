"""Coverage-guided fuzzing (atheris) of the parsers of outside input: see README.md."""
