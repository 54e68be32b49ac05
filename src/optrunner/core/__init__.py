"""The bottom layer: time, enums, events, order records, clocks and the in-process bus.

Nothing here imports another optrunner package at run time, so every other layer can
depend on it without cycles.
"""
