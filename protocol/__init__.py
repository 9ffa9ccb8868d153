"""Pure protocol core of sigstack: formats and proofs that both servers and clients speak.

Nothing here imports Flask, SQLAlchemy or any other part of sigstack; only the standard library,
``cryptography`` and ``rfc8785``.
"""
