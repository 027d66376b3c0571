"""Walk-by reading: a route's progress while a meter reader walks it (`meterd walk`)."""
