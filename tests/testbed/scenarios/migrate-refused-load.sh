# SPDX-License-Identifier: GPL-2.0-or-later
# migrate-refused-load: B's VF refuses the state while QEMU loads it (RESUMING); the VM stays on A and nothing leaks.
# As migrate-refused.sh, but host B's nvfm_tvf accepts at most 1 MiB of
# state (max_state_size) while A's VF holds 4 MiB: the driver refuses the
# stream's header as B's QEMU writes it into the data_fd, during precopy,
# so the incoming migration fails before QEMU's switchover. The checks are
# migrate-refused.sh's: migrate fails with one line naming the phase, the
# guest counts on A only, B's VF was released, neither PF leaked.
TB_HOSTS="a b"
TB_TIMEOUT=900

. /tb/scenarios/migrate-refused.sh

MR_B_PARAMS=(state_size=$((512 << 10)) max_state_size=$((1 << 20)))
