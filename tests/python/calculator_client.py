"""Calls the rpc_service example with oslo.messaging; one JSON line per step.

Used by tests/rpc_service.rs. Usage:
    calculator_client.py URL EXCHANGE TOPIC SERVER
"""

import json
import sys

from oslo_config import cfg
import oslo_messaging


def step(name, action):
    try:
        outcome = {"step": name, "ok": action()}
    except Exception as error:  # reported to the Rust test, which asserts
        outcome = {"step": name, "error": {
            "type": type(error).__name__,
            "module": type(error).__module__,
            "message": str(error).splitlines()[0],
        }}
    print(json.dumps(outcome), flush=True)


def main():
    url, exchange, topic, server = sys.argv[1:5]
    cfg.CONF([], project="rpc-service-test")
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    client = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic=topic), timeout=30)
    ctxt = {"request_id": "req-calculator"}

    step("add", lambda: client.call(ctxt, "add", a=2, b=40))
    step("add_direct", lambda: client.prepare(server=server).call(
        ctxt, "add", a=1, b=1))
    step("echo", lambda: client.call(ctxt, "echo", text="hi"))
    step("divide", lambda: client.call(ctxt, "divide", a=1, b=4))
    step("divide_by_zero", lambda: client.call(ctxt, "divide", a=1, b=0))
    step("add_text", lambda: client.call(ctxt, "add", a="x", b=1))
    step("no_such_method", lambda: client.call(ctxt, "multiply", a=1, b=1))
    step("cast", lambda: client.cast(ctxt, "record", id="cast-1"))
    step("fanout", lambda: client.prepare(fanout=True).cast(
        ctxt, "record", id="fanout-1"))
    transport.cleanup()


if __name__ == "__main__":
    main()
