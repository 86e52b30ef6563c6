"""What the HTTP API and the command line do for people: one ticket's view and decisions
(``tickets``), and the work queues (``queues``)."""
