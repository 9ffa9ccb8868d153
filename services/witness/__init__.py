"""C2SP tlog-witness: cosigns the checkpoints of the logs it follows, once each is proved consistent
with the last one it cosigned (docs/witness.md)."""
