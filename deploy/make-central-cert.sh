#!/usr/bin/env bash
# The chain's private CA (made once) and a TLS certificate for one central, with openssl.
#
#   deploy/make-central-cert.sh DIR HOST [HOST...]
#
# DIR/ca.pem        the CA certificate: copy it to every kiosk (/etc/ticket-kiosk/central-ca.pem,
#                   central.ca_file in kiosk.toml)
# DIR/ca.key        the CA's private key: keep it offline; it signs the next central certificate
# DIR/central.crt   the central's certificate for HOST... (names or IP addresses the kiosks use in
# DIR/central.key   central.url): CENTRAL_TLS_CERT / CENTRAL_TLS_KEY (/etc/ticket-central/tls/)
#
# An existing CA in DIR is reused, so a renewed central certificate needs no change on the
# kiosks. A kiosk may pin the certificate instead of trusting the CA: central.cert_sha256 =
# the fingerprint printed at the end (it changes with every new certificate).
set -euo pipefail
[ "$#" -ge 2 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
DIR="$1"; shift
mkdir -p "$DIR"
umask 077
if [ ! -f "$DIR/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Cinema chain private CA" -keyout "$DIR/ca.key" -out "$DIR/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
SAN=""
for host in "$@"; do
  if [[ "$host" =~ ^[0-9.]+$ || "$host" == *:* ]]; then SAN+="IP:$host,"; else SAN+="DNS:$host,"; fi
done
SAN="${SAN%,}"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
  -keyout "$DIR/central.key" -out "$DIR/central.csr" 2>/dev/null
printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' "$SAN" \
  > "$DIR/central.ext"
openssl x509 -req -in "$DIR/central.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
  -days 825 -sha256 -extfile "$DIR/central.ext" -out "$DIR/central.crt" 2>/dev/null
rm -f "$DIR/central.csr" "$DIR/central.ext"
chmod 0644 "$DIR/ca.pem" "$DIR/central.crt"
echo "certificate for $*: $DIR/central.crt (key $DIR/central.key), CA for the kiosks: $DIR/ca.pem"
openssl x509 -in "$DIR/central.crt" -noout -fingerprint -sha256
