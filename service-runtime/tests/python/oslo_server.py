"""An oslo.messaging RPC server for tests/rpc_interop.rs.

Prints READY once it listens and stops when its standard input closes.
Usage:
    oslo_server.py URL EXCHANGE TOPIC SERVER
"""

import sys
import threading

from oslo_config import cfg
import oslo_messaging


class Plain:
    target = oslo_messaging.Target(version="1.2")

    def __init__(self):
        self._lock = threading.Lock()
        self._recorded = []

    def echo(self, ctxt, **kwargs):
        return {"args": kwargs, "context": ctxt}

    def add(self, ctxt, a, b):
        return a + b

    def fail(self, ctxt, text):
        raise ValueError(text)

    def record(self, ctxt, id):
        with self._lock:
            self._recorded.append(id)

    def recorded(self, ctxt):
        with self._lock:
            return list(self._recorded)


class Math:
    target = oslo_messaging.Target(namespace="math", version="2.1")

    def mul(self, ctxt, a, b):
        return a * b


def main():
    url, exchange, topic, server = sys.argv[1:5]
    conf = cfg.CONF
    conf([], project="rpc-interop")
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    transport = oslo_messaging.get_rpc_transport(conf, url=url)
    target = oslo_messaging.Target(topic=topic, server=server)
    rpc_server = oslo_messaging.get_rpc_server(
        transport, target, [Plain(), Math()])
    rpc_server.start()
    print("READY", flush=True)
    sys.stdin.read()
    rpc_server.stop()
    rpc_server.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
