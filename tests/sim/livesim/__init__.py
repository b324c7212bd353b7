"""livesim: a simulated fleet of Amazon Linux instances behind a local AWS endpoint (moto).

See tests/sim/README.md for the fleet schema, the control API and what is simulated.
"""
