"""The embedded synthetic source systems of the insurer (policy administration, claims, DPO).

There is no real insurer behind this pipeline, so these modules play its source systems: they
build a seeded, reproducible book (people, vehicles, contracts, claims and their ledger, quotes,
consent changes, data-subject requests) and drop daily delivery files with planted defects into
the landing zone, as documented in docs/source-contract.md.

Entry point: `python -m transforms.sources.generate` or
`transforms.sources.generate.generate_book`. Modules, in the order the book is built:
common (helpers), geography, people, vehicles, banking, contracts, claims, quotes, dpo,
deliveries (cutting and writing deliveries), defects (planting and recording them), shards (a
large book built in parts, and the numbers each part issues), generate.
"""
