"""Calls an RPC server with oslo.messaging and prints one JSON line per step.

Used by tests/rpc_interop.rs against the Rust server. Usage:
    oslo_client.py URL EXCHANGE TOPIC SERVER
"""

import json
import sys

from oslo_config import cfg
import oslo_messaging


def describe_error(error):
    return {
        "type": type(error).__name__,
        "exc_type": getattr(error, "exc_type", None),
        "message": str(error),
    }


def step(name, action):
    try:
        outcome = {"step": name, "ok": action()}
    except Exception as error:  # reported to the Rust test, which asserts
        outcome = {"step": name, "error": describe_error(error)}
    print(json.dumps(outcome), flush=True)


def main():
    url, exchange, topic, server = sys.argv[1:5]
    conf = cfg.CONF
    conf([], project="rpc-interop")
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    client = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic=topic), timeout=20)
    ctxt = {"request_id": "req-python", "user_id": "alice"}

    step("echo", lambda: client.call(ctxt, "echo", text="hi", items=[1, 2]))
    step("echo_server", lambda: client.prepare(server=server).call(
        ctxt, "echo", text="direct"))
    step("add", lambda: client.prepare(namespace="math", version="1.1").call(
        ctxt, "add", a=2, b=3))
    step("add_too_new", lambda: client.prepare(
        namespace="math", version="1.3").call(ctxt, "add", a=2, b=3))
    step("no_such_method", lambda: client.call(ctxt, "no_such_method"))
    step("fail_value", lambda: client.call(ctxt, "fail_value", text="bad"))
    step("fail_custom", lambda: client.call(ctxt, "fail_custom"))
    step("slow_monitored", lambda: client.prepare(
        timeout=20, call_monitor_timeout=2).call(ctxt, "slow", seconds=3))
    step("cast", lambda: client.cast(ctxt, "record", id="cast-1"))
    step("fanout", lambda: client.prepare(fanout=True).cast(
        ctxt, "record", id="fanout-1"))
    transport.cleanup()


if __name__ == "__main__":
    main()
