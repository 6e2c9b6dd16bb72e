# SPDX-License-Identifier: GPL-2.0-or-later
# tls-speed: the same emulated VF state sent from A to B's agents four ways,
# each way RUNS times, for figures beside each other: plain TCP
# (zero-copy), mutual TLS with GIO's records (NVFM_TLS_SEALED=0), with
# sealed records opened in userspace (NVFM_TLS_KTLS=0), and with sealed
# records handed to the kernel's TLS (these hosts' 6.12 kernel has the tls
# module; the build machine's may not). Passes when every transfer lands
# (emu:b holds emu:a's digest), each way ran on the record layer it names
# (the agent's log says), and the kernel's TLS spliced every byte. Reports
# each way's MiB/s (median of its runs) and its ratio to plain TCP; under
# TCG the figures are the emulator's, so the ratios are what to compare.
TB_HOSTS="a b"
TB_TIMEOUT=900

STATE=16M
RUNS=3
# way port agent-env expected-layer
WAYS="plain:16601:-:-
gio:16602:NVFM_TLS_SEALED=0:GIO TLS
sealed:16603:NVFM_TLS_KTLS=0:sealed
ktls:16604:-:sealed, kernel TLS"

tb_tls_ready() {
	[ -d /tb/pki/server ] && [ -d /tb/pki/client ] ||
		tb_fail "no test PKI in /tb/pki (the runner makes it with certtool)"
	modprobe tls || tb_fail "the kernel has no tls module"
	# what udev loads on a real host from the CPU's features: without it
	# the kernel's TLS runs the generic C cipher (these hosts run no udev)
	modprobe -a aesni_intel ghash_clmulni_intel ||
		tb_log "no AES-NI modules: the kernel's TLS uses its generic cipher"
	grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp ||
		tb_fail "tls is not among the kernel's TCP ULPs: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
}

# way_field WAY N: the Nth ':'-separated field of WAY's line
way_field() { echo "$WAYS" | grep "^$1:" | cut -d: -f"$2"; }

host_b() {
	local way port env pid v digest
	tb_tls_ready
	for way in plain gio sealed ktls; do
		port=$(way_field "$way" 2)
		env=$(way_field "$way" 3)
		[ "$env" = - ] && env=
		if [ "$way" = plain ]; then
			set -- --insecure
		else
			set -- --tls-dir /tb/pki/server --allow host-a
		fi
		NVFM_EMU_DIR=/run/tb/emu-$way env $env nvme-vf-migrate -v agent \
			--listen "10.77.0.2:$port" --emu --timeout 120 --log stderr "$@" \
			>"/run/tb/agent-$way.log" 2>&1 &
		pid=$!
		tb_wait_listen "$port" $pid "/run/tb/agent-$way.log"
		NVFM_EMU_DIR=/run/tb/emu-$way nvme-vf-migrate -q emu create b --size $STATE --seed 2 \
			--dirty-rate 0 || tb_fail "emu create on B"
	done
	tb_pub b_ready yes
	digest=$(tb_peer_get a_done 800) || tb_fail "A did not finish"
	for way in plain gio sealed ktls; do
		v=$(NVFM_EMU_DIR=/run/tb/emu-$way nvme-vf-migrate emu digest b | sed -n 's/^sha256: //p')
		[ "$v" = "$digest" ] || { tb_pub "layer_$way" "digest $v"; tb_fail "$way: emu:b holds $v, not A's $digest"; }
	done
	for way in gio sealed ktls; do
		grep -o '\[records: [^]]*\]' "/run/tb/agent-$way.log" | sort | uniq -c |
			sed "s/^/$way: /"
		tb_pub "layer_$way" "$(grep -o '\[records: [^]]*\]' "/run/tb/agent-$way.log" |
			sed 's/^\[records: //; s/\]$//' | sort -u | tr '\n' '|')"
	done
	tb_peer_get a_checked 300 >/dev/null || tb_fail "A did not check the layers"
}

host_a() {
	local way port env r out rc mibs list med plain_med want got zc total v
	tb_tls_ready
	NVFM_EMU_DIR=/run/tb/emu nvme-vf-migrate -q emu create a --size $STATE --seed 1 \
		--dirty-rate 0 || tb_fail "emu create on A"
	v=$(tb_peer_get b_ready 300) || tb_fail "B is not ready"
	[ "$v" = yes ] || tb_fail "B: ${v#fail: }"
	for way in plain gio sealed ktls; do
		port=$(way_field "$way" 2)
		env=$(way_field "$way" 3)
		[ "$env" = - ] && env=
		if [ "$way" = plain ]; then
			set -- --to "10.77.0.2:$port" --insecure
		else
			set -- --to "10.77.0.2:$port" --tls-dir /tb/pki/client
		fi
		list=
		for r in $(seq $RUNS); do
			out=$(NVFM_EMU_DIR=/run/tb/emu env $env nvme-vf-migrate --json send emu:a \
				--target emu:b --run --timeout 120 "$@")
			rc=$?
			[ $rc -eq 0 ] || { echo "$out"; tb_fail "$way run $r: send exited $rc"; }
			mibs=$(echo "$out" | jq -r '.stats.total_bytes / .stats.total_seconds / 1048576 * 10 | round / 10')
			total=$(echo "$out" | jq -r .stats.total_bytes)
			zc=$(echo "$out" | jq -r .stats.zero_copy_bytes)
			[ "$(echo "$out" | jq -r .remote.total_bytes)" = "$total" ] ||
				tb_fail "$way run $r: B counted other bytes than A sent"
			if [ "$way" = ktls ] || [ "$way" = plain ]; then
				[ "$zc" = "$total" ] || tb_fail "$way run $r: spliced $zc of $total bytes"
			fi
			tb_log "$way run $r: $mibs MiB/s ($total bytes, $zc spliced)"
			list="$list $mibs"
		done
		med=$(echo $list | tr ' ' '\n' | sort -n | sed -n "$(((RUNS + 1) / 2))p")
		tb_metric "${way}_mib_s" "$med"
		[ "$way" = plain ] && plain_med=$med
		tb_metric "${way}_vs_plain" "$(echo "$med $plain_med" | awk '{printf "%.2f", $1 / $2}')"
	done
	# the cipher the kernel's TLS picked (its gcm(aes) of highest priority)
	tb_metric ktls_cipher "$(awk '/^name/ {n=$3} /^driver/ {d=$3} /^priority/ {
		if (n == "gcm(aes)" && $3 > best) { best = $3; pick = d } } END { print pick }' /proc/crypto)"
	tb_pub a_done "$(NVFM_EMU_DIR=/run/tb/emu nvme-vf-migrate emu digest a | sed -n 's/^sha256: //p')"
	for way in gio sealed ktls; do
		want=$(way_field "$way" 4)
		got=$(tb_peer_get "layer_$way" 120) || tb_fail "B did not say which records ran"
		[ "$got" = "$want|" ] || tb_fail "$way: the agent ran '$got', not '$want'"
		tb_metric "${way}_records" "$(echo "$want" | tr -s ' ,' '-')"
	done
	tb_pub a_checked yes
}
