"""Intake's schema changes, applied in order at start by `shared.migrations`."""
