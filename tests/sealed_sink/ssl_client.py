"""A plain Python ssl client: trusts only the run's CA, sends SNI, offers http/1.1, makes one GET and
prints what it saw as JSON (status, negotiated ALPN, the certificate's subjectAltName).

Usage: ssl_client.py PORT CA_PEM SERVER_NAME
"""
import json
import socket
import ssl
import sys

port, ca, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])
# The name is resolved by us, not DNS: connect to loopback and present the name as SNI.
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(f"GET /v1/models?client=python HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
        status = int(data.split(b" ", 2)[1])
        cert = tls.getpeercert()
        print(json.dumps({"status": status, "alpn": tls.selected_alpn_protocol(),
                          "san": [list(x) for x in cert.get("subjectAltName", ())]}))
