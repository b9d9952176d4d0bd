"""Example applications using cachepolicy (run ``python -m example_project``)."""
