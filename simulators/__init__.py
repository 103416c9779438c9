"""Stand-ins for the partner systems casehub talks to.

Each simulator speaks its partner's real protocol over real HTTP on loopback, serves seeded,
reproducible zh_CN data with the partner's legacy quirks, and injects defects and faults on
demand, so the demo and the tests exercise the hub the way production partners would. The hub's
code never imports this package: its tests use `simulators.testing`, everything else runs
`python -m simulators`. The contract it implements is docs/partners.md.
"""
