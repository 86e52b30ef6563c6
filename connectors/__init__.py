"""Where money goes out and status goes back: billing and help desk adapters.

Each system is reached through a small protocol (``billing.BillingAdapter``,
``helpdesk.HelpdeskAdapter``); the embedded implementations keep everything in the service's
own store, so the product runs end to end on one machine. Real connectors implement the same
protocols.
"""
