"""The database: schema, engines, bulk moves, loads, the report's reads, retention, tokens."""
