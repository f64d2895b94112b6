"""Model specs, where their files are found, and their verified download."""
