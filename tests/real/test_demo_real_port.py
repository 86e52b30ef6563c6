"""`make demo-real` while something (usually `make demo`) holds the Temporal port: the message
says what to do. A real listener on a free port stands in for the other server."""

from __future__ import annotations

import socket

from devtools.dev_server import free_port
from tests.real.demo import temporal_port_problem


def test_a_taken_temporal_port_says_to_run_make_stop_then_demo_real_again() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        problem = temporal_port_problem(port)
    assert problem is not None
    first, make_stop, otherwise = problem.splitlines()
    assert first == (
        f"error: something already serves localhost:{port}, the port this demo's Temporal "
        "server needs."
    )
    assert "`make stop` stops its Temporal server, worker and API" in make_stop
    assert "then run `make demo-real` again" in make_stop
    assert f"sport = :{port}" in otherwise


def test_a_free_port_is_no_problem() -> None:
    assert temporal_port_problem(free_port()) is None
