"""Backtests: the kernel on a simulated clock and exchange, metrics, reports and parameter sweeps."""
