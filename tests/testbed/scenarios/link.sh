# link: the two hosts boot, see each other over the -netdev stream link and
# exchange values through the scenario helpers (a smoke test of the testbed).
TB_HOSTS="a b"
TB_TIMEOUT=120

tb_link_check() {
	local peer v
	peer=$(tb_peer_ip)
	ping -c 3 -W 5 "$peer" || { ip addr; ip link; tb_fail "no ping to $peer"; }
	tb_pub hello "from-$TB_ROLE"
	v=$(tb_peer_get hello 60) || tb_fail "no value from the peer"
	[ "$v" = "from-$( [ "$TB_ROLE" = a ] && echo b || echo a)" ] || tb_fail "peer sent '$v'"
	tb_pub bye yes
	tb_peer_get bye 60 >/dev/null || tb_fail "the peer did not finish"
	# Give the peer time to read our "bye" before powering off.
	sleep 2
}

host_a() { tb_link_check; }
host_b() { tb_link_check; }
