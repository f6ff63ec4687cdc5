"""Queries: functions over the capability graph that return plain data (rows with paths); they never print."""
