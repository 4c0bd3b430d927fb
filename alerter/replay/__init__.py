"""Offline replay: dry runs, noise control simulated on past calls, and the backtest."""
