#!/usr/bin/env bash
# Makes the TLS lesson's demo certificates (examples/patterns/tls.rs): a CA, a server
# certificate for localhost and 127.0.0.1, and a client certificate, all from that CA,
# valid for 100 years. They are committed: demo keys, never for real use.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=grpc-showcase lesson CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
for name in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=grpc-showcase lesson $name" -keyout "$name.key" -out "$name.csr"
done
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
  -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth") \
  -out server.pem
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
  -extfile <(printf "extendedKeyUsage=clientAuth") -out client.pem
rm -f server.csr client.csr ca.srl ca.key
