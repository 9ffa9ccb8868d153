"""The only shared Flask/SQLAlchemy glue: app factory, config loading, database, error mapping."""
