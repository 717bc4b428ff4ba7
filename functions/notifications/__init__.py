"""The notification domain shared by the ingest, processor and query functions.

Pure Python (no AWS calls), so each rule lives once and is unit-tested without an emulator.
"""
