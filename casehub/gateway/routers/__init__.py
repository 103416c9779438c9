"""The gateway's routes, one module per concern, each exporting an `APIRouter` named `router`.

A new concern is a new module here and one entry in `casehub.gateway.app.ROUTERS`. A router
reaches the store, the key ring and the partners through `casehub.gateway.context.context_of`,
and refuses with `casehub.gateway.problems.Problem`; it imports what touches the store or the
keys inside its handlers, so building the app stays cheap.
"""
