"""The one evaluation driver every task uses (driver.py)."""
