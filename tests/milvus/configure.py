"""Writes BASE/configs/milvus.yaml (and etcd.yaml) for one loopback-only Milvus 2.3.5.

Usage: configure.py BASE PORT AUTH(0|1) TLS_MODE(0|1|2) CERT_DIR

Milvus uses the ports PORT .. PORT+11: PORT is the gRPC proxy (the one clients use),
PORT+9 the HTTP healthz/metrics port, PORT+10/11 the embedded etcd.
"""
import os
import re
import socket
import sys

import milvus


def bind_with_reuse(_config, port):
    # The package's own check binds without SO_REUSEADDR, so a TIME_WAIT left by an
    # earlier instance looks like a port in use.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None


def main():
    base, port, auth, tls_mode, cert_dir = sys.argv[1:6]
    base, cert_dir, port = os.path.abspath(base), os.path.abspath(cert_dir), int(port)
    milvus.MilvusServerConfig.try_bind_port = bind_with_reuse
    component_ports = ["proxy_port", "proxy_internal_port", "root_coord_port", "query_coord_port",
                       "query_node_port", "index_coord_port", "index_node_port",
                       "data_coord_port", "data_node_port"]
    ports = {key: port + offset for offset, key in enumerate(component_ports)}
    config = milvus.MilvusServerConfig(data_dir=base, etcd_port=port + 10, **ports)
    config.set("authorization_enabled", auth == "1")
    config.set("tls_mode", int(tls_mode))
    config.set("server_pem_path", os.path.join(cert_dir, "server.pem"))
    config.set("server_key_path", os.path.join(cert_dir, "server.key"))
    config.set("ca_pem_path", os.path.join(cert_dir, "ca.pem"))
    config.set("common.gracefulStopTimeout", 5)
    # Let the proxy take 64 MiB requests and answers (its default limit is exactly 64 MiB),
    # so that large-message tests exercise milvus-connd rather than Milvus's limit.
    config.set("proxy.grpc.serverMaxRecvSize", 268435456)
    config.set("proxy.grpc.serverMaxSendSize", 268435456)
    # Components advertise their first non-loopback address unless told otherwise.
    for component in ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode",
                      "dataCoord", "dataNode"):
        config.set(f"{component}.ip", "127.0.0.1")
    config.resolve()

    # The embedded etcd always listens on 2379/2380 unless given a config file of its own,
    # which would keep a second instance from starting.
    etcd_yaml = os.path.join(base, "configs", "etcd.yaml")
    client_url, peer_url = f"http://127.0.0.1:{port + 10}", f"http://127.0.0.1:{port + 11}"
    with open(etcd_yaml, "w", encoding="utf-8") as out:
        out.write(f"name: default\nlisten-client-urls: {client_url}\n"
                  f"advertise-client-urls: {client_url}\nlisten-peer-urls: {peer_url}\n"
                  f"initial-advertise-peer-urls: {peer_url}\n"
                  f"initial-cluster: default={peer_url}\n")
    milvus_yaml = os.path.join(base, "configs", "milvus.yaml")
    with open(milvus_yaml, encoding="utf-8") as f:
        text = f.read()
    text, count = re.subn(r"(\n  use:\n    embed: true[^\n]*\n)",
                          lambda m: m.group(1) + f"  config:\n    path: {etcd_yaml}\n", text, count=1)
    if count != 1:
        sys.exit("configure.py: could not find the embedded etcd section in milvus.yaml")
    with open(milvus_yaml, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
