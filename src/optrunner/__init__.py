"""optrunner: options strategies on Indian F&O with one code path for backtest, paper and live."""

__version__ = "0.1.0"
