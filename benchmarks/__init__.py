"""Synthetic estates at named sizes and the benchmark that runs blastradius over them."""
