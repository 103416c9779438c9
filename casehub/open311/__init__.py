"""Open311 GeoReport v2, with mySociety's update extensions, over the unified cases (docs/open311.md).

    contracts   the services (the taxonomy), their attributes and the status table, read from
                `schemas/open311/`
    keys        the clients' API keys: issued, verified, listed, revoked
    limits      a token bucket per API key
    intake      a filed request landed sealed in the inbox (its token), and the job turning the
                landed requests into cases
    records     the public records: requests, tokens and updates, masked and cut to the allow-list
    render      those records as the spec's XML and JSON, errors included

The gateway's router (`casehub/gateway/routers/open311.py`) only reads parameters and calls these.
"""
