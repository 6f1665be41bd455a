#!/usr/bin/env bash
# Installs the kiosk on a lobby machine: code under /opt/ticket-kiosk, state under
# /var/lib/ticket-kiosk, config and credential under /etc/ticket-kiosk (mode 0600).
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
SRC="$(cd "$(dirname "$0")/.." && pwd)"
id kiosk >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/ticket-kiosk kiosk
mkdir -p /opt/ticket-kiosk /etc/ticket-kiosk /var/lib/ticket-kiosk
cp -a "$SRC/." /opt/ticket-kiosk/
(cd /opt/ticket-kiosk && ./dev setup)
[ -f /etc/ticket-kiosk/kiosk.toml ] || install -m 0640 -g kiosk "$SRC/config/default.toml" /etc/ticket-kiosk/kiosk.toml
chown -R kiosk:kiosk /var/lib/ticket-kiosk
install -m 0644 "$SRC/deploy/kiosk.service" /etc/systemd/system/ticket-kiosk.service
systemctl daemon-reload
echo "edit /etc/ticket-kiosk/kiosk.toml (central.url, printer), save the credential from"
echo "'central kiosk enrol NAME --cinema ID' to the file it names (mode 0600, owner kiosk),"
echo "then: systemctl enable --now ticket-kiosk"
