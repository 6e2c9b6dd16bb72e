#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Test PKI for the hosts suite, made with certtool (gnutls-bin):
#   mkcerts.sh DIR SERVER_IP [KEY_TYPE]
# KEY_TYPE: ecdsa (the default: quick) or rsa (what QEMU's tls-creds-x509
# takes: it wants key usage that permits key encipherment).
# DIR/ca      the test CA                 DIR/other   another CA
# DIR/server  server-cert.pem for SERVER_IP (CN host-b) + ca-cert.pem
# DIR/client  client-cert.pem CN host-a   DIR/client-c  CN host-c
# DIR/foreign a client certificate from the other CA
# DIR/expired a client certificate from the test CA that expired in 2020
# DIR/client-evil   CN host-c, O "nvfm-test, CN=host-a" (host-a only in text)
# DIR/client-san    CN ops-d, DNS host-a.example, IP 10.9.9.9
# DIR/client-twocn  two CNs, host-a and host-c
# DIR/client-admin  CN ops-admin
# Each client directory holds the test CA as ca-cert.pem, so it trusts
# the server; only its own certificate differs.
set -eu
DIR=$1
IP=$2
KEY_TYPE=${3:-ecdsa}
command -v certtool >/dev/null || { echo "certtool not found (apt-get install gnutls-bin)"; exit 77; }
mkdir -p "$DIR"
cd "$DIR"

key() { certtool --generate-privkey --key-type="$KEY_TYPE" --outfile "$1" 2>/dev/null; }

mkca() {
	mkdir -p "$1"
	key "$1/ca-key.pem"
	cat >"$1/ca.info" <<EOT
cn = "$2"
ca
cert_signing_key
expiration_days = 7
EOT
	certtool --generate-self-signed --load-privkey "$1/ca-key.pem" \
		--template "$1/ca.info" --outfile "$1/ca-cert.pem" 2>/dev/null
}

# mkcert CA DIR KIND CN [extra template lines]
mkcert() {
	ca=$1 d=$2 kind=$3 cn=$4
	shift 4
	mkdir -p "$d"
	key "$d/$kind-key.pem"
	{
		case "$*" in
		*"dn = "*) ;;
		*) echo "cn = \"$cn\"" ;;
		esac
		case "$*" in
		*organization*|*"dn = "*) ;;
		*) echo "organization = \"nvfm-test\"" ;;
		esac
		if [ "$kind" = server ]; then
			echo "tls_www_server"
			echo "ip_address = \"$IP\""
			echo "dns_name = \"host-b\""
		else
			echo "tls_www_client"
		fi
		echo "signing_key"
		echo "encryption_key"
		for l in "$@"; do echo "$l"; done
	} >"$d/$kind.info"
	case "$*" in
	*expiration_date*) ;;
	*) echo "expiration_days = 7" >>"$d/$kind.info" ;;
	esac
	certtool --generate-certificate --load-privkey "$d/$kind-key.pem" \
		--load-ca-certificate "$ca/ca-cert.pem" --load-ca-privkey "$ca/ca-key.pem" \
		--template "$d/$kind.info" --outfile "$d/$kind-cert.pem" 2>/dev/null
	cp ca/ca-cert.pem "$d/ca-cert.pem"
}

mkca ca "nvfm test CA"
mkca other "some other CA"
mkcert ca server server host-b
mkcert ca client client host-a
mkcert ca client-c client host-c
mkcert other foreign client host-a
mkcert ca expired client host-a 'activation_date = "2019-01-01 00:00:00 UTC"' \
	'expiration_date = "2020-01-01 00:00:00 UTC"'
mkcert ca client-evil client host-c 'organization = "nvfm-test, CN=host-a"'
mkcert ca client-san client ops-d 'dns_name = "host-a.example"' 'ip_address = "10.9.9.9"'
mkcert ca client-twocn client - 'dn = "CN=host-a,CN=host-c,O=nvfm-test"'
mkcert ca client-admin client ops-admin
chmod 600 */*-key.pem
