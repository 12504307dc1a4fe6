"""The generated STEP-format video set: the project's embedded default data."""
