"""The hub's own SOAP 1.1 server side: safe envelopes, faults, WS-Security, the district binding.

The partners' simulators have stand-ins of their own (`simulators/soap.py`, `wssecurity.py`);
this package is the hub's, serving the district standard interface (docs/district-interface.md)
behind `casehub/gateway/routers/district_soap.py`.

    envelope.py    read_body (capped while read), parse_envelope (no DTD, no entities, no
                   network, no huge trees), response_envelope, fault_envelope, SoapFault
    wssecurity.py  UsernameTokenVerifier: PasswordDigest, the Created window, and the nonce cache
                   in the store's `soap_nonces` table shared by every gateway process
    district.py    the operations of `schemas/wsdl/district.wsdl` on `casehub.districts`

Nothing is imported here, so that building the gateway app loads neither lxml nor the store;
the router imports these modules when it first answers.
"""
