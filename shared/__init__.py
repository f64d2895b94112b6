"""Contracts and plumbing shared by every Sightwire service.

`ingest`, `workers` and `gateway` import only this package and talk only
through the subjects it names; see DESIGN.md section 1.
"""
