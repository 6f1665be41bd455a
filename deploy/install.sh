#!/usr/bin/env bash
# Installs the kiosk on a lobby machine: code under /opt/ticket-kiosk, state under
# /var/lib/ticket-kiosk, config, credential and the central's CA under /etc/ticket-kiosk.
#   deploy/install.sh [CA_PEM]
# CA_PEM: the chain's private CA (ca.pem from deploy/make-central-cert.sh), installed as
# /etc/ticket-kiosk/central-ca.pem, which the kiosk trusts for the central's certificate.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
SRC="$(cd "$(dirname "$0")/.." && pwd)"
id kiosk >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/ticket-kiosk kiosk
mkdir -p /opt/ticket-kiosk /etc/ticket-kiosk /var/lib/ticket-kiosk
cp -a "$SRC/." /opt/ticket-kiosk/
(cd /opt/ticket-kiosk && ./dev setup)
# The production defaults: real devices, an https:// central. Never config/demo.toml here:
# `kiosk run` refuses simulators and a plain-HTTP central unless told explicitly.
[ -f /etc/ticket-kiosk/kiosk.toml ] || install -m 0640 -g kiosk "$SRC/config/default.toml" /etc/ticket-kiosk/kiosk.toml
if [ "$#" -ge 1 ]; then
  install -m 0644 "$1" /etc/ticket-kiosk/central-ca.pem
fi
chown -R kiosk:kiosk /var/lib/ticket-kiosk
install -m 0644 "$SRC/deploy/kiosk.service" /etc/systemd/system/ticket-kiosk.service
systemctl daemon-reload
echo "edit /etc/ticket-kiosk/kiosk.toml: central.url (https://, the name in the central's certificate),"
echo "central.ca_file = \"/etc/ticket-kiosk/central-ca.pem\" (or central.cert_sha256), the printer;"
echo "save the credential from 'central kiosk enrol NAME --cinema ID' to /etc/ticket-kiosk/kiosk.credential"
echo "(mode 0600, owner kiosk); check the devices with"
echo "  sudo -u kiosk /opt/ticket-kiosk/.venv/bin/kiosk devices --config /etc/ticket-kiosk/kiosk.toml"
echo "then: systemctl enable --now ticket-kiosk"
