"""``sigstack serve mirror``: a mirror directory made by ``sigstack mirror`` served read-only."""
