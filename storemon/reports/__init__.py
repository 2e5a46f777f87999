"""A report's life and work: its state, its computation from the database, RQ's queue and jobs, the clock."""
