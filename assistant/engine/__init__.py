"""The engine: everything between a document and a model. Settings, model resolution, the `Backend` protocol and
its backends, FIM formats, the context window, post-processing, the completion engine, and the small shared
pieces every layer uses (atomic files, text positions, file naming, percentiles, log routing).

It imports nothing else of ours (CONTRIBUTING.md), and nothing heavy at import time: torch and llama.cpp load
when a backend is created.
"""
