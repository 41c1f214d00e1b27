"""Conversions, attribution, metrics and dashboards."""
