"""Where help desk events come in. Every entry point delivers through one core,
``intake.delivery`` (signal-with-start to the ticket's workflow, each ticket's events in order,
redelivery always safe: a ticket ignores an ``event_id`` it has seen):

- our signed webhook, ``POST /webhooks/events``: route api/webhooks.py, signature check,
  parsing and delivery ``intake.signed_webhook``;
- Zendesk's trigger webhook, ``POST /webhooks/zendesk``, and django-helpdesk's webhook,
  ``POST /webhooks/django-helpdesk`` (token in ``?token=`` or a header): routes
  api/helpdesk_webhooks.py, receivers ``intake.helpdesk_webhooks`` (the payload mapping is the
  connectors': connectors/zendesk.py, connectors/django_helpdesk.py; a django-helpdesk body is
  confirmed against its REST API first, connectors/django_helpdesk_confirmation.py);
- the django-helpdesk polling sync, catching what its webhooks missed: the activity
  ``intake.helpdesk_sync``, run every few minutes by workflows/helpdesk_sync.py;
- a JSONL events file: ``starter.py ingest FILE`` (cli/ingest_command.py; the file is read and
  checked by cli/input_files.py), and ``starter.py demo`` with the examples.

The intake sits below the workflows (their worker registers the polling sync's activity), so
it starts and signals the ticket workflow by the names in messages/ticket.py.
"""
