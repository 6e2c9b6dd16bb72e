# SPDX-License-Identifier: GPL-2.0-or-later
#
# The smallest guest that proves a VM runs: a 32-bit multiboot kernel
# (QEMU's -kernel loads it directly, no disk or firmware setup) that
# increments a counter at physical 0x200000 and writes it into one of
# 1024 pages at 0x400000.. on each turn, so the 4 MiB range stays dirty
# while the VM migrates. Tests read the counter over QMP:
#   human-monitor-command "xp /1wx 0x200000"
# Build: as --32 -o tiny-guest.o tiny-guest.s
#        ld -m elf_i386 -Ttext=0x100000 -e _start -o tiny-guest.elf tiny-guest.o

	.set MB_MAGIC, 0x1BADB002
	.set MB_FLAGS, 0
	.set COUNTER, 0x200000
	.set DIRTY_BASE, 0x400000

	.code32
	.section .text
	.globl _start
	.align 4
multiboot_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

_start:
	cli
	xorl %ecx, %ecx
1:	incl COUNTER
	movl %ecx, %eax
	andl $0x3ff, %eax
	shll $12, %eax
	movl %ecx, DIRTY_BASE(%eax)
	incl %ecx
	jmp 1b
