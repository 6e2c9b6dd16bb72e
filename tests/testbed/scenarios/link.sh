# SPDX-License-Identifier: GPL-2.0-or-later
# link: the two hosts boot, see each other over the -netdev stream link and
# exchange values through the scenario helpers (a smoke test of the testbed).
TB_HOSTS="a b"
TB_TIMEOUT=240

# tb_setup has already waited for the peer's ping. Each host publishes a
# value and reads the other's; then a second round trip proves a value
# published after the first exchange arrives too (the helpers are the
# scenarios' barriers).
tb_link_check() {
	local peer other v t0
	peer=$(tb_peer_ip)
	[ "$TB_ROLE" = a ] && other=b || other=a
	ping -c 3 -i 0.2 -W 5 "$peer" || tb_fail "the peer $peer stopped answering pings"
	t0=$(date +%s%N)
	tb_pub hello "from-$TB_ROLE"
	v=$(tb_peer_get hello 120) || tb_fail "no value from the peer"
	[ "$v" = "from-$other" ] || tb_fail "peer sent '$v'"
	tb_pub second "$TB_ROLE:$v"
	v=$(tb_peer_get second 120) || tb_fail "no second value from the peer"
	[ "$v" = "$other:from-$TB_ROLE" ] || tb_fail "peer's second value is '$v'"
	tb_metric "exchange_ms_$TB_ROLE" $((($(date +%s%N) - t0) / 1000000))
}

host_a() { tb_link_check; }
host_b() { tb_link_check; }
